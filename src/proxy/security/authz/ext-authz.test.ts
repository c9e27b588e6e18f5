// The CUSTOM action's HTTP check against a server that behaves like Istio's samples/extauthz: what the
// check request carries, allow and deny with their headers and bodies, timeouts and an unreachable
// provider with failOpen on and off, and keep-alive reuse.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExtAuthzProvider } from '../../../model/security.js';
import { DENY_BODY, startExtAuthzServer } from '../../../../test/support/ext-authz-server.js';
import { checkExternal, closeExtAuthzAgent, type ExtAuthzCheckRequest } from './ext-authz.js';
import { formatExternal } from './explain.js';

after(() => closeExtAuthzAgent());

function provider(port: number, o: Partial<ExtAuthzProvider> = {}): ExtAuthzProvider {
  return {
    name: 'sample-ext-authz',
    host: '127.0.0.1',
    port,
    pathPrefix: '/check',
    timeoutMs: 2000,
    failOpen: false,
    statusOnError: 403,
    includeRequestHeadersInCheck: ['x-ext-authz', 'x-ext-authz-additional-*'],
    includeAdditionalHeadersInCheck: [['x-added', 'yes']],
    headersToUpstreamOnAllow: ['x-ext-authz-check-result', 'x-ext-authz-additional-header-override'],
    headersToDownstreamOnAllow: ['x-ext-authz-check-result'],
    headersToDownstreamOnDeny: ['x-ext-authz-check-result'],
    ...o,
  };
}

function check(
  headers: ExtAuthzCheckRequest['headers'],
  o: Partial<ExtAuthzCheckRequest> = {},
): ExtAuthzCheckRequest {
  return { method: 'GET', host: 'httpbin.foo:8000', path: '/headers', query: 'a=1', headers, ...o };
}

test('allow: the check carries method, prefixed path and query, Host, Authorization and the listed headers only', async () => {
  const server = await startExtAuthzServer();
  try {
    const upstream: Record<string, string | string[] | undefined> = {
      'x-ext-authz-check-result': 'spoofed',
      'x-keep': '1',
    };
    const r = await checkExternal(
      provider(server.port),
      check({
        'x-ext-authz': 'allow',
        'x-ext-authz-additional-header-override': 'override-me',
        authorization: 'Bearer t',
        'x-other': 'not sent',
        cookie: 'a=b',
        connection: 'keep-alive',
        'content-length': '12',
      }),
      upstream,
    );
    assert.equal(r.allowed, true);
    assert.equal(r.outcome, 'allowed');
    assert.equal(r.status, 200);
    assert.deepEqual(r.upstreamHeaders.sort(), [
      ['x-ext-authz-additional-header-override', 'override-me'],
      ['x-ext-authz-check-result', 'allowed'],
    ]);
    assert.deepEqual(r.responseHeaders, [['x-ext-authz-check-result', 'allowed']]);
    assert.deepEqual(upstream, {
      'x-ext-authz-check-result': 'allowed',
      'x-keep': '1',
      'x-ext-authz-additional-header-override': 'override-me',
    });
    assert.equal(
      formatExternal(r),
      'ALLOW (allowed, status 200): allowed by ext_authz provider sample-ext-authz',
    );

    const seen = server.received[0]!;
    assert.equal(seen.method, 'GET');
    assert.equal(seen.url, '/check/headers?a=1');
    assert.equal(seen.body, '');
    assert.equal(seen.headers.host, 'httpbin.foo:8000');
    assert.equal(seen.headers.authorization, 'Bearer t');
    assert.equal(seen.headers['x-ext-authz'], 'allow');
    assert.equal(seen.headers['x-ext-authz-additional-header-override'], 'override-me');
    assert.equal(seen.headers['x-added'], 'yes');
    assert.equal(seen.headers['x-other'], undefined);
    assert.equal(seen.headers.cookie, undefined);
  } finally {
    await server.close();
  }
});

test('deny: the provider status and body, and only the listed response headers', async () => {
  const server = await startExtAuthzServer();
  try {
    const r = await checkExternal(provider(server.port), check({ 'x-ext-authz': 'deny' }));
    assert.equal(r.allowed, false);
    assert.equal(r.outcome, 'denied');
    assert.equal(r.status, 403);
    assert.equal(r.body, DENY_BODY);
    assert.deepEqual(r.responseHeaders, [['x-ext-authz-check-result', 'denied']]);
    assert.deepEqual(r.upstreamHeaders, []);
    assert.equal(r.reason, 'denied by ext_authz provider sample-ext-authz with status 403');

    // With headersToDownstreamOnDeny empty, every response header but Host (and framing) goes to the client.
    const all = await checkExternal(provider(server.port, { headersToDownstreamOnDeny: [] }), check({}));
    const names = all.responseHeaders.map(([n]) => n);
    assert.ok(names.includes('x-ext-authz-check-result'));
    assert.ok(names.includes('x-ext-authz-check-received'));
    assert.ok(names.includes('content-type'));
    assert.ok(!names.includes('content-length') && !names.includes('connection'));
    // The sample server dumps the check request it received.
    const dump = all.responseHeaders.find(([n]) => n === 'x-ext-authz-check-received')![1];
    assert.match(dump, /^GET httpbin\.foo:8000\/check\/headers\?a=1, headers: /);
  } finally {
    await server.close();
  }
});

test('includeAdditionalHeadersInCheck overrides a client header; methods other than GET carry no body', async () => {
  const server = await startExtAuthzServer();
  try {
    const p = provider(server.port, { includeAdditionalHeadersInCheck: [['x-ext-authz', 'allow']] });
    const r = await checkExternal(p, check({ 'x-ext-authz': 'deny' }, { method: 'POST', query: '?b=2' }));
    assert.equal(r.allowed, true);
    const seen = server.received[0]!;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/check/headers?b=2');
    assert.equal(seen.headers['content-length'], '0');
    assert.equal(seen.body, '');
    const bare = await checkExternal(provider(server.port, { pathPrefix: '' }), check({}, { query: '' }));
    assert.equal(bare.allowed, false);
    assert.equal(server.received[1]!.url, '/headers');
  } finally {
    await server.close();
  }
});

test('checks reuse keep-alive connections', async () => {
  const server = await startExtAuthzServer();
  try {
    for (let i = 0; i < 10; i++) {
      const r = await checkExternal(provider(server.port), check({ 'x-ext-authz': i % 2 ? 'allow' : 'no' }));
      assert.equal(r.allowed, i % 2 === 1);
    }
    assert.equal(server.received.length, 10);
    // undici may open a second connection while the first is still being released; never one per check.
    assert.ok(server.connections() <= 2, `${server.connections()} connections for 10 checks`);
  } finally {
    await server.close();
  }
});

test('timeout: failOpen allows, otherwise statusOnError', async () => {
  const server = await startExtAuthzServer({ delayMs: 1000 });
  try {
    const t0 = Date.now();
    const closed = await checkExternal(
      provider(server.port, { timeoutMs: 100 }),
      check({ 'x-ext-authz': 'allow' }),
    );
    assert.ok(Date.now() - t0 < 900, 'did not wait for the answer');
    assert.equal(closed.allowed, false);
    assert.equal(closed.outcome, 'error');
    assert.equal(closed.status, 403);
    assert.equal(closed.body, '');
    assert.equal(
      closed.reason,
      'ext_authz provider sample-ext-authz did not answer within 100 ms; denied with statusOnError 403',
    );

    const custom = await checkExternal(
      provider(server.port, { timeoutMs: 100, statusOnError: 503 }),
      check({ 'x-ext-authz': 'allow' }),
    );
    assert.equal(custom.status, 503);

    const upstream: Record<string, string> = {};
    const open = await checkExternal(
      provider(server.port, { timeoutMs: 100, failOpen: true }),
      check({ 'x-ext-authz': 'deny' }),
      upstream,
    );
    assert.equal(open.allowed, true);
    assert.equal(open.outcome, 'error');
    assert.deepEqual(upstream, {});
    assert.match(open.reason, /allowed because failOpen is set/);
  } finally {
    await server.close();
  }
});

test('provider down: failOpen allows, otherwise statusOnError (403 by default)', async () => {
  const server = await startExtAuthzServer();
  const port = server.port;
  await server.close();
  const closed = await checkExternal(provider(port, { statusOnError: 0 }), check({ 'x-ext-authz': 'allow' }));
  assert.equal(closed.allowed, false);
  assert.equal(closed.status, 403);
  assert.match(closed.reason, /could not be reached \(ECONNREFUSED\); denied with statusOnError 403/);
  const open = await checkExternal(provider(port, { failOpen: true }), check({}));
  assert.equal(open.allowed, true);
  assert.equal(open.outcome, 'error');
});

test('a CONNECT request cannot be checked over HTTP: treated as a failed check', async () => {
  const r = await checkExternal(provider(1), check({}, { method: 'CONNECT' }));
  assert.equal(r.allowed, false);
  assert.equal(r.outcome, 'error');
  const open = await checkExternal(provider(1, { failOpen: true }), check({}, { method: 'CONNECT' }));
  assert.equal(open.allowed, true);
});

test('connectTo sends the check elsewhere (e.g. through the outbound listener), naming the provider in absolute form', async () => {
  const server = await startExtAuthzServer();
  try {
    const p = provider(1, { host: 'ext-authz.foo.svc.cluster.local' });
    const r = await checkExternal(p, check({ 'x-ext-authz': 'allow' }), undefined, {
      connectTo: { host: '127.0.0.1', port: server.port },
    });
    assert.equal(r.allowed, true);
    // The Host header is the original request's, so only the request target can route the check to the
    // provider: in origin form the outbound listener sent it back to the protected service itself.
    assert.equal(server.received[0]!.url, 'http://ext-authz.foo.svc.cluster.local:1/check/headers?a=1');
    assert.equal(server.received[0]!.headers.host, 'httpbin.foo:8000');
  } finally {
    await server.close();
  }
});

test('includeRequestBodyInCheck: the body as sent, its length, and x-envoy-auth-partial-body only when listed', async () => {
  const server = await startExtAuthzServer();
  try {
    const body = { maxRequestBytes: 5, allowPartialMessage: true, packAsBytes: false };
    const listed = provider(server.port, {
      includeRequestBody: body,
      includeRequestHeadersInCheck: ['x-ext-authz', 'x-envoy-auth-partial-body'],
    });
    const r = await checkExternal(
      listed,
      check(
        // A client cannot claim the body was whole: its own marker is dropped.
        { 'x-ext-authz': 'allow', 'x-envoy-auth-partial-body': 'false', 'content-length': '11' },
        { method: 'POST', body: { data: Buffer.from('hello'), partial: true } },
      ),
    );
    assert.equal(r.allowed, true);
    let seen = server.received.at(-1)!;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body, 'hello');
    assert.equal(seen.headers['content-length'], '5');
    assert.equal(seen.headers['x-envoy-auth-partial-body'], 'true');

    await checkExternal(
      provider(server.port, { includeRequestBody: body }),
      check(
        { 'x-ext-authz': 'allow' },
        { method: 'PUT', body: { data: Buffer.from('abc'), partial: false } },
      ),
    );
    seen = server.received.at(-1)!;
    assert.equal(seen.body, 'abc');
    assert.equal(seen.headers['x-envoy-auth-partial-body'], undefined, 'not in includeRequestHeadersInCheck');

    await checkExternal(listed, check({ 'x-ext-authz': 'allow', 'x-envoy-auth-partial-body': 'true' }));
    seen = server.received.at(-1)!;
    assert.deepEqual([seen.body, seen.headers['x-envoy-auth-partial-body']], ['', undefined], 'no body read');
  } finally {
    await server.close();
  }
});
