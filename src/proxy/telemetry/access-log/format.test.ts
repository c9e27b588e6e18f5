import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { record } from '../testing.js';
import type { RequestRecord } from '../events.js';
import {
  compileJson,
  compileText,
  compileWeftLine,
  formatProblem,
  FormatError,
  ISTIO_DEFAULT_JSON_LABELS,
  ISTIO_DEFAULT_TEXT_FORMAT,
  parseFormat,
} from './format.js';

const socket = (remote: string, remotePort: number, local: string, localPort: number) => ({
  remoteAddress: remote,
  remotePort,
  localAddress: local,
  localPort,
});

/** The request of Istio's access log task (istio.io, "Envoy Access Logs"), as a Weft record. */
function httpbin418(over: Partial<RequestRecord> = {}): RequestRecord {
  return record({
    startTime: Date.parse('2020-11-25T21:26:18.409Z'),
    durationMs: 4.6,
    method: 'GET',
    path: '/status/418',
    authority: 'httpbin:8000',
    status: 418,
    requestBytes: 0,
    responseBytes: 135,
    requestHeaders: {
      'user-agent': 'curl/7.73.0-DEV',
      'x-request-id': '84961386-6d84-929d-98bd-c5aee93b5c88',
    },
    responseHeaders: { 'x-envoy-upstream-service-time': '4' },
    upstreamHost: '10.44.1.27:80',
    upstreamCluster: 'outbound|8000||httpbin.foo.svc.cluster.local',
    upstreamLocalAddress: '10.44.1.23:37652',
    route: 'default',
    downstream: socket('::ffff:10.44.1.23', 46520, '10.0.45.184', 8000),
    ...over,
  });
}

test("Istio's default text format, byte for byte against the line in Istio's access log task", () => {
  const line = compileText(ISTIO_DEFAULT_TEXT_FORMAT)(httpbin418());
  assert.equal(
    line,
    '[2020-11-25T21:26:18.409Z] "GET /status/418 HTTP/1.1" 418 - via_upstream - "-" 0 135 4 4 "-" ' +
      '"curl/7.73.0-DEV" "84961386-6d84-929d-98bd-c5aee93b5c88" "httpbin:8000" "10.44.1.27:80" ' +
      'outbound|8000||httpbin.foo.svc.cluster.local 10.44.1.23:37652 10.0.45.184:8000 10.44.1.23:46520 - default',
  );
});

test('outbound records give the response itself: its headers are read when a format asks', () => {
  const res = new http.ServerResponse(new http.IncomingMessage(new net.Socket()));
  res.setHeader('X-Envoy-Upstream-Service-Time', '4');
  res.setHeader('set-cookie', ['a=1', 'b=2']);
  const r = httpbin418({ responseHeaders: undefined, response: res });
  assert.equal(
    compileText(ISTIO_DEFAULT_TEXT_FORMAT)(r),
    compileText(ISTIO_DEFAULT_TEXT_FORMAT)(httpbin418()),
  );
  assert.equal(compileText('%RESP(SET-COOKIE)% %RESP(X-NONE)%')(r), 'a=1,b=2 -');
});

test('a 503 UF with no upstream answer: flags, details, unknown values as -', () => {
  const line = compileText(ISTIO_DEFAULT_TEXT_FORMAT)(
    httpbin418({
      status: 503,
      flags: 'UF',
      responseBytes: 91,
      responseHeaders: {},
      upstreamLocalAddress: undefined,
      upstreamTransportFailureReason: 'delayed_connect_error:_Connection_refused',
    }),
  );
  assert.match(
    line,
    / 503 UF upstream_reset_before_response_started\{remote_connection_failure\} - "delayed_connect_error:_Connection_refused" 0 91 4 - "-" /,
  );
  assert.match(line, / outbound\|8000\|\|httpbin\.foo\.svc\.cluster\.local - 10\.0\.45\.184:8000 /);
});

test('Istio default JSON: sorted keys, typed numbers, null for unknown, "-" flags', () => {
  const json = JSON.parse(compileJson(ISTIO_DEFAULT_JSON_LABELS)(httpbin418())) as Record<string, unknown>;
  assert.deepEqual(Object.keys(json), Object.keys(ISTIO_DEFAULT_JSON_LABELS).sort());
  assert.equal(json.response_code, 418);
  assert.equal(json.bytes_sent, 135);
  assert.equal(json.duration, 4);
  assert.equal(json.response_flags, '-');
  assert.equal(json.response_code_details, 'via_upstream');
  assert.equal(json.x_forwarded_for, null);
  assert.equal(json.connection_termination_details, null);
  assert.equal(json.upstream_service_time, '4');
  assert.equal(json.start_time, '2020-11-25T21:26:18.409Z');
  assert.equal(json.downstream_remote_address, '10.44.1.23:46520');
  assert.equal(json.path, '/status/418');
});

test('JSON escapes what needs escaping', () => {
  const f = compileJson({ ua: '%REQ(USER-AGENT)%', p: 'x %REQ(:PATH)%' });
  const r = record({ path: '/a"b\\c\n', requestHeaders: { 'user-agent': 'q"\u0001\ud800' } });
  assert.deepEqual(JSON.parse(f(r)), { p: 'x /a"b\\c\n', ua: 'q"\u0001\ud800' });
});

test('omitEmptyValues: empty text instead of -, unknown JSON keys left out', () => {
  const r = httpbin418();
  assert.equal(compileText('[%REQ(X-NONE)%] %RESPONSE_CODE%', { omitEmptyValues: true })(r), '[] 418');
  assert.equal(
    compileJson(
      { a: '%REQ(X-NONE)%', b: '%RESPONSE_CODE%', c: 'x%REQ(X-NONE)%' },
      { omitEmptyValues: true },
    )(r),
    '{"b":418,"c":"x"}',
  );
  assert.equal(compileJson({ a: '%REQ(X-NONE)%' }, { omitEmptyValues: true })(r), '{}');
});

test('nested JSON labels', () => {
  const f = compileJson({
    http: { code: '%RESPONSE_CODE%', method: '%REQ(:METHOD)%' },
    id: '%REQ(X-REQUEST-ID)%',
  });
  assert.equal(
    f(httpbin418()),
    '{"http":{"code":418,"method":"GET"},"id":"84961386-6d84-929d-98bd-c5aee93b5c88"}',
  );
  assert.match(
    formatProblem({ http: { code: '%NOPE%' } }) ?? '',
    /^http\.code: unknown access log operator %NOPE%/,
  );
});

test('custom JSON labels: literals, mixed text, truncation', () => {
  const f = compileJson({
    svc: 'reviews',
    n: 3,
    line: '%REQ(:METHOD)% %RESPONSE_CODE%',
    ua: '%REQ(USER-AGENT):4%',
  });
  assert.equal(f(httpbin418()), '{"line":"GET 418","n":3,"svc":"reviews","ua":"curl"}');
});

test('each operator', () => {
  const r = httpbin418({
    requestHeaders: {
      'x-forwarded-for': '1.2.3.4',
      'user-agent': 'curl/8',
      'x-envoy-original-path': '/orig',
      'set-cookie': ['a', 'b'],
    },
    upstreamRequestHeaders: { 'x-request-id': 'generated' },
    responseHeaders: { 'content-type': 'text/plain' },
    grpcStatus: 14,
    attempts: 2,
    peerIdentity: 'spiffe://cluster.local/ns/default/sa/x',
    httpVersion: '2.0',
  });
  const one = (op: string) => compileText(op)(r);
  assert.equal(one('%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%'), '/orig');
  assert.equal(one('%REQ(X-MISSING?:PATH)%'), '/status/418');
  assert.equal(one('%REQ(:PATH):7%'), '/status');
  assert.equal(one('%REQ(X-REQUEST-ID)%'), 'generated');
  assert.equal(one('%REQ(SET-COOKIE)%'), 'a,b');
  assert.equal(one('%REQ(X-FORWARDED-FOR)%'), '1.2.3.4');
  assert.equal(one('%RESP(CONTENT-TYPE)%'), 'text/plain');
  assert.equal(one('%RESP(X-NONE)%'), '-');
  assert.equal(one('%TRAILER(GRPC-STATUS)%'), '14');
  assert.equal(one('%TRAILER(X-OTHER)%'), '-');
  assert.equal(one('%PROTOCOL%'), 'HTTP/2');
  assert.equal(one('%GRPC_STATUS%'), 'Unavailable');
  assert.equal(one('%GRPC_STATUS(SNAKE_STRING)%'), 'UNAVAILABLE');
  assert.equal(one('%GRPC_STATUS(NUMBER)%'), '14');
  assert.equal(one('%UPSTREAM_REQUEST_ATTEMPT_COUNT%'), '2');
  assert.equal(one('%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%'), '10.44.1.23');
  assert.equal(one('%DOWNSTREAM_LOCAL_ADDRESS%'), '10.0.45.184:8000');
  assert.equal(one('%DOWNSTREAM_PEER_URI_SAN%'), 'spiffe://cluster.local/ns/default/sa/x');
  assert.equal(one('%DOWNSTREAM_TLS_VERSION%'), '-');
  assert.equal(one('%REQUESTED_SERVER_NAME%'), '-');
  assert.equal(one('%HOSTNAME%'), os.hostname());
  assert.equal(one('%ROUTE_NAME%'), 'default');
  assert.equal(one('%REQUEST_DURATION% %RESPONSE_DURATION%'), '- -');
  assert.equal(one('%START_TIME(%Y/%m/%d %H:%M:%S.%3f)%'), '2020/11/25 21:26:18.409');
  assert.equal(one('%START_TIME(%s)%'), '1606339578');
  assert.equal(one('100%% %RESPONSE_CODE%'), '100% 418');
  const tls = httpbin418({
    downstream: Object.assign(socket('10.0.0.1', 1, '10.0.0.2', 2), {
      encrypted: true,
      servername: 'outbound_.9080_._.reviews.default.svc.cluster.local',
      getProtocol: () => 'TLSv1.3',
    }),
  });
  assert.equal(
    compileText('%DOWNSTREAM_TLS_VERSION% %REQUESTED_SERVER_NAME%')(tls),
    'TLSv1.3 outbound_.9080_._.reviews.default.svc.cluster.local',
  );
});

test('response flags print in Envoy order, Weft-only ones last', () => {
  const f = compileText('%RESPONSE_FLAGS%');
  assert.equal(f(record({ flags: '' })), '-');
  assert.equal(f(record({ flags: 'URX,UF' })), 'UF,URX');
  assert.equal(f(record({ flags: 'DC,DI' })), 'DI,DC');
  assert.equal(f(record({ flags: 'RBAC' })), 'RBAC');
});

test('response code details follow the flags', () => {
  const d = compileText('%RESPONSE_CODE_DETAILS%');
  const cases: Array<[Partial<RequestRecord>, string]> = [
    [{ flags: 'NR', status: 404, upstreamHost: undefined }, 'route_not_found'],
    [{ flags: 'UH', status: 503, upstreamHost: undefined }, 'no_healthy_upstream'],
    [{ flags: 'UO', status: 503 }, 'upstream_reset_before_response_started{overflow}'],
    [{ flags: 'UT', status: 504 }, 'upstream_response_timeout'],
    [{ flags: 'FI', status: 500 }, 'fault_filter_abort'],
    [{ flags: 'RL', status: 429 }, 'local_rate_limited'],
    [{ flags: 'DC', status: 499 }, 'downstream_remote_disconnect'],
    [{ flags: 'RBAC', status: 403 }, 'rbac_access_denied_matched_policy[none]'],
    [{ flags: '', status: 200, upstreamHost: '1.2.3.4:80' }, 'via_upstream'],
    [{ flags: 'URX', status: 503, upstreamHost: '1.2.3.4:80' }, 'via_upstream'],
  ];
  for (const [over, want] of cases) assert.equal(d(record(over)), want, JSON.stringify(over));
});

test("Weft's compact lines (the default without access log config) keep their shape", () => {
  const out = compileWeftLine('client')(httpbin418({ listener: 'outbound', flags: 'UF', status: 503 }));
  assert.equal(
    out,
    '[2020-11-25T21:26:18.409Z] outbound "GET /status/418 HTTP/1.1" 503 UF 4 "httpbin:8000" "10.44.1.27:80" outbound|8000||httpbin.foo.svc.cluster.local default',
  );
  const inbound = compileWeftLine('server')(
    httpbin418({
      reporter: 'destination',
      listener: 'inbound',
      httpVersion: '2.0',
      peerIdentity: 'spiffe://x',
    }),
  );
  assert.equal(
    inbound,
    '[2020-11-25T21:26:18.409Z] inbound "GET /status/418 HTTP/2.0" 418 - 4 "spiffe://x" "-" "httpbin:8000"',
  );
});

test('START_TIME is ISO 8601 in UTC with milliseconds, across seconds', () => {
  const f = compileText('%START_TIME%');
  for (const t of [0, 999, 1000, 1606339578409, 1606339578009.7, 1606339579050, 1606339578409]) {
    assert.equal(f(record({ startTime: t })), new Date(Math.floor(t)).toISOString());
  }
});

test('errors name the operator', () => {
  assert.throws(
    () => parseFormat('%NOPE%'),
    (e: FormatError) => e.operator === 'NOPE' && /unknown access log operator %NOPE%/.test(e.message),
  );
  assert.throws(() => parseFormat('%REQ%'), /REQ needs a header name/);
  assert.throws(() => parseFormat('%RESPONSE_CODE(x)%'), /takes no argument/);
  assert.throws(() => parseFormat('50% off'), /lone %|malformed/);
  assert.throws(() => parseFormat('%START_TIME(%Q)%'), /unsupported time specifier %Q/);
  assert.match(formatProblem({ a: '%BAD_ONE%' }) ?? '', /^a: unknown access log operator %BAD_ONE%/);
  assert.equal(formatProblem(ISTIO_DEFAULT_TEXT_FORMAT), undefined);
});

test('REQUEST_DURATION, RESPONSE_DURATION, RESPONSE_TX_DURATION: ms, truncated, unknown until measured', () => {
  const f = compileText('%REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION% %DURATION%');
  assert.equal(
    f(httpbin418({ requestDurationMs: 1.7, responseDurationMs: 3.2, durationMs: 9.9 })),
    '1 3 6 9',
  );
  // A local reply: the request ended with its headers, no upstream answered.
  assert.equal(f(httpbin418({ requestDurationMs: 0, durationMs: 0.4 })), '0 - - 0');
  // The client went away mid-body: nothing but the total is known.
  assert.equal(f(httpbin418({ durationMs: 12 })), '- - - 12');
  const json = JSON.parse(
    compileJson({ req: '%REQUEST_DURATION%', resp: '%RESPONSE_DURATION%', tx: '%RESPONSE_TX_DURATION%' })(
      httpbin418({ requestDurationMs: 0.2, responseDurationMs: 5.5, durationMs: 5.9 }),
    ),
  ) as Record<string, unknown>;
  assert.deepEqual(json, { req: 0, resp: 5, tx: 0 });
});

/** A TCP stream through a gateway, as the access logs see it (records.ts tcpRequestRecord). */
function tcpStream(over: Partial<RequestRecord> = {}): RequestRecord {
  return record({
    listener: 'gateway',
    startTime: Date.parse('2021-02-01T10:00:00.123Z'),
    durationMs: 2012.4,
    method: '',
    path: '',
    authority: '',
    httpVersion: '',
    status: 0,
    requestBytes: 1105,
    responseBytes: 1056,
    requestHeaders: {},
    upstreamHost: '10.244.0.8:9000',
    upstreamCluster: 'outbound|9000||tcp-echo.default.svc.cluster.local',
    upstreamLocalAddress: '10.244.0.9:54460',
    downstream: socket('10.244.0.1', 54458, '10.244.0.9', 31400),
    tcp: true,
    ...over,
  });
}

test("a TCP stream in Istio's default text format: HTTP-only values unknown, code 0 (as Envoy's TCP proxy)", () => {
  assert.equal(
    compileText(ISTIO_DEFAULT_TEXT_FORMAT)(tcpStream()),
    '[2021-02-01T10:00:00.123Z] "- - -" 0 - - - "-" 1105 1056 2012 - "-" "-" "-" "-" "10.244.0.8:9000" ' +
      'outbound|9000||tcp-echo.default.svc.cluster.local 10.244.0.9:54460 10.244.0.9:31400 10.244.0.1:54458 - -',
  );
  const json = JSON.parse(
    compileJson(ISTIO_DEFAULT_JSON_LABELS)(tcpStream({ requestedServerName: 'a.example' })),
  );
  assert.equal(json.method, null);
  assert.equal(json.protocol, null);
  assert.equal(json.response_code, 0);
  assert.equal(json.response_code_details, null);
  assert.equal(json.route_name, null);
  assert.equal(json.bytes_received, 1105);
  assert.equal(json.requested_server_name, 'a.example');
  const one = (op: string) => compileText(op)(tcpStream({ flags: 'UF' }));
  assert.equal(one('%RESPONSE_FLAGS% %REQ(:SCHEME)% %REQUEST_DURATION% %RESPONSE_TX_DURATION%'), 'UF - - -');
});

test("Weft's compact TCP lines", () => {
  assert.equal(
    compileWeftLine('client', true)(tcpStream({ requestedServerName: 'a.example', route: 'tls-route' })),
    '[2021-02-01T10:00:00.123Z] gateway tcp "a.example" - 2012 "10.244.0.8:9000" ' +
      'outbound|9000||tcp-echo.default.svc.cluster.local tls-route received=1105 sent=1056',
  );
  const denied = tcpStream({
    reporter: 'destination',
    listener: 'inbound',
    flags: 'RBAC',
    durationMs: 0.3,
    requestBytes: 0,
    responseBytes: 0,
    peerIdentity: 'spiffe://cluster.local/ns/default/sa/sleep',
    destination: { service: 'tcp-echo.default.svc.cluster.local', port: 9000 },
  });
  assert.equal(
    compileWeftLine('server', true)(denied),
    '[2021-02-01T10:00:00.123Z] inbound tcp tcp-echo.default.svc.cluster.local:9000 ' +
      '"spiffe://cluster.local/ns/default/sa/sleep" denied RBAC 0 received=0 sent=0',
  );
});
