// Zero-trust security through real proxies: PeerAuthentication modes (STRICT, PERMISSIVE, DISABLE,
// port-level), auto mTLS and DestinationRule tls overrides, path normalization, RequestAuthentication
// (JWT) and AuthorizationPolicy (DENY, ALLOW, AUDIT, CUSTOM), over HTTP, gRPC and TCP.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Pool, request } from 'undici';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';
import { ECHO_YAML, clientYaml } from './support/mesh-yaml.js';
import { issue, makeRoot } from '../src/control-plane/ca/test-helpers.js';

interface Echo {
  path: string;
  host: string;
  headers: Record<string, string | string[]>;
  pod: string;
}

const ECHO = 'echo-0.default';
const CLIENT = 'client-0.default';

/** A raw HTTP/1.1 exchange on a fresh plaintext connection: the response text, or "" if it was closed. */
function rawHttp(port: number, req: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(req));
    let data = '';
    s.setTimeout(5_000, () => s.destroy());
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('close', () => resolve(data));
    s.on('error', () => resolve(data));
  });
}

describe('security through sidecars', { timeout: 300_000 }, () => {
  let mesh: RunningMesh;
  let outbound: number;
  let echoInbound: number;
  let dir: string;
  let pool: Pool;

  async function call(
    path: string,
    init: { method?: string; headers?: Record<string, string>; host?: string } = {},
  ) {
    // A Pool sends the path exactly as written (request(url) would resolve dot segments first).
    const res = await pool.request({
      path,
      method: (init.method ?? 'GET') as 'GET',
      headers: { host: init.host ?? 'echo:8080', ...init.headers },
    });
    const text = await res.body.text();
    let json: Echo | undefined;
    try {
      json = JSON.parse(text) as Echo;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, headers: res.headers, text, json };
  }

  /** Plaintext straight to echo's inbound port, as a client outside the mesh would. */
  const plaintext = (path = '/', extra = '') =>
    rawHttp(echoInbound, `GET ${path} HTTP/1.1\r\nHost: echo:8080\r\n${extra}Connection: close\r\n\r\n`);

  async function apply(name: string, yaml: string, watch = [ECHO, CLIENT]): Promise<void> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    await changeConfig(mesh, ['apply', '-f', file], watch);
  }

  async function remove(name: string, watch = [ECHO, CLIENT]): Promise<void> {
    await changeConfig(mesh, ['delete', '-f', join(dir, `${name}.yaml`)], watch);
  }

  before(async () => {
    dir = await tempDir();
    outbound = await freePort();
    await writeFile(
      join(dir, 'mesh.yaml'),
      `
${ECHO_YAML}
---
${clientYaml(outbound)}
`,
    );
    mesh = await RunningMesh.up([join(dir, 'mesh.yaml')]);
    echoInbound = (await mesh.instance(ECHO)).ports!.inbound;
    pool = new Pool(`http://127.0.0.1:${outbound}`);
  });

  after(async () => {
    await pool?.close();
    await mesh?.stop();
  });

  describe('PeerAuthentication and auto mTLS', () => {
    test('PERMISSIVE by default: mesh peers over mTLS, plaintext clients answered without an identity', async () => {
      const r = await call('/');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json?.headers['x-forwarded-client-cert'], [
        'By=spiffe://cluster.local/ns/default/sa/echo;URI=spiffe://cluster.local/ns/default/sa/client',
      ]);
      // A plaintext client cannot claim an identity: a forged XFCC never reaches the app.
      const raw = await plaintext(
        '/',
        'X-Forwarded-Client-Cert: URI=spiffe://cluster.local/ns/default/sa/admin\r\n',
      );
      assert.match(raw, /^HTTP\/1\.1 200/);
      assert.doesNotMatch(raw, /x-forwarded-client-cert/i);
    });

    test('TLS clients without a mesh certificate are refused, and the sidecar logs why', async () => {
      const other = await makeRoot('CN=Another Mesh Root');
      const leaf = await issue(other, 'CN=intruder', { ca: false });
      /** What a TLS client sees from echo's inbound port, after sending a request. */
      const attempt = (client?: { key: string; cert: string }) =>
        new Promise<string>((resolve) => {
          const s = tls.connect({
            host: '127.0.0.1',
            port: echoInbound,
            rejectUnauthorized: false,
            ...client,
          });
          s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nHost: echo:8080\r\n\r\n'));
          s.on('data', () => resolve('answered'));
          s.on('error', (e) => resolve(e.message));
          s.on('close', () => resolve('closed'));
        });
      assert.notEqual(await attempt(), 'answered');
      assert.notEqual(await attempt({ key: leaf.keyPem, cert: leaf.pem }), 'answered');
      // The clients only see a closed connection; the sidecar's log says why.
      const log = join(mesh.stateDir, 'logs', `${ECHO}.proxy.log`);
      const from = String.raw`inbound mTLS connection from 127\.0\.0\.1:\d+ refused: `;
      await waitFor('both refusals in the echo sidecar log', async () => {
        const text = await readFile(log, 'utf8');
        return (
          new RegExp(`${from}UNABLE_TO_GET_ISSUER_CERT \\(client certificate: none\\)`).test(text) &&
          new RegExp(`${from}UNABLE_TO_VERIFY_LEAF_SIGNATURE \\(client certificate: "intruder"\\)`).test(text)
        );
      });
      // Mesh traffic is unaffected.
      assert.equal((await call('/')).status, 200);
    });

    test('mesh-wide STRICT (root namespace) closes plaintext connections; mesh traffic is unaffected', async () => {
      await apply(
        'strict',
        `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
`,
      );
      assert.equal(await plaintext('/'), '');
      assert.equal((await call('/')).status, 200);
      const d = await mesh.weft(['describe', 'workload', 'echo']);
      assert.match(d.stdout, /^mtls: STRICT \(istio-system\/default\)$/m);
    });

    test('a namespace DISABLE overrides the mesh STRICT, and auto mTLS makes clients send plaintext', async () => {
      await apply(
        'ns-disable',
        `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec:
  mtls: {mode: DISABLE}
`,
      );
      const r = await call('/');
      assert.equal(r.status, 200);
      assert.equal(r.json?.headers['x-forwarded-client-cert'], undefined, 'the client proxy sent plaintext');
      assert.match(await plaintext('/'), /^HTTP\/1\.1 200/);
      const check = await mesh.weft(['tls-check', 'echo']);
      assert.equal(check.code, 0, check.stderr);
      assert.match(
        check.stdout,
        /client-0\.default\s+echo-0\.default\s+plaintext\s+DISABLE \(default\/default\)\s+OK/,
      );
      assert.match(check.stdout, /echo\.default\.svc\.cluster\.local:8080: plaintext/);
      await remove('ns-disable');
      const back = await mesh.weft(['tls-check', 'echo', '-o', 'json']);
      const parsed = JSON.parse(back.stdout) as { summary: Array<{ traffic: string }> };
      assert.equal(parsed.summary[0]?.traffic, 'mTLS');
    });

    test('portLevelMtls: a workload policy makes one port PERMISSIVE under a STRICT mesh', async () => {
      await apply(
        'port-level',
        `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: echo, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  mtls: {mode: STRICT}
  portLevelMtls:
    "8080": {mode: PERMISSIVE}
`,
      );
      assert.match(await plaintext('/'), /^HTTP\/1\.1 200/);
      await remove('port-level');
      assert.equal(await plaintext('/'), '');
    });

    test('DestinationRule tls.mode DISABLE toward a STRICT server fails; ISTIO_MUTUAL restores it', async () => {
      await apply(
        'dr-disable',
        `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {tls: {mode: DISABLE}}
`,
      );
      const r = await call('/');
      assert.equal(r.status, 503, r.text);
      const check = await mesh.weft(['tls-check', 'echo']);
      assert.match(check.stdout, /plaintext\s+STRICT \(istio-system\/default\)\s+CONFLICT/);
      assert.match(check.stdout, /conflict: plaintext sent to a STRICT server fails/);
      await apply(
        'dr-disable',
        `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}
`,
      );
      assert.equal((await call('/')).status, 200);
      await remove('dr-disable');
      await remove('strict');
    });
  });

  describe('AuthorizationPolicy and path normalization (smoke)', () => {
    test('a DENY on /admin* cannot be dodged with encodings, dot segments or case tricks the app would undo', async () => {
      await apply(
        'deny-admin',
        `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: default}
spec:
  selector: {matchLabels: {app: echo}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin*"]}}]
`,
        [ECHO],
      );
      for (const p of [
        '/admin',
        '/admin/x',
        '/%61dmin',
        '/public/../admin',
        '/./admin',
        '/public/%2e%2e/admin',
      ]) {
        const r = await call(p);
        assert.equal(r.status, 403, `${p}: ${r.text}`);
        assert.equal(r.text, 'RBAC: access denied');
        assert.equal(r.headers['x-weft-response-flags'], 'RBAC');
      }
      // The dry run explains the same decision, from the snapshot the proxy runs.
      const check = await mesh.weft([
        'authz',
        'check',
        'echo',
        '--from',
        'spiffe://cluster.local/ns/default/sa/client',
        '--path',
        '/public/../admin',
      ]);
      assert.equal(check.code, 3, check.stderr);
      assert.match(check.stdout, /path: +\/public\/\.\.\/admin normalizes to \/admin \(BASE\)/);
      assert.match(check.stdout, /decision: DENY: .*DENY policy default\/deny-admin rule 0/);
      const allowed = await mesh.weft(['authz', 'check', 'echo', '--path', '/public']);
      assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr);
      assert.match(allowed.stdout, /decision: ALLOW/);
      // Every deny is counted, by policy.
      const metrics = await (
        await request(`http://127.0.0.1:${(await mesh.instance(ECHO)).ports!.metrics}/metrics`)
      ).body.text();
      assert.match(
        metrics,
        /weft_authz_decisions_total\{decision="deny",action="DENY",policy="default\/deny-admin"\} 6/,
      );
      const ok = await call('/public/../other');
      assert.equal(ok.status, 200);
      assert.equal(ok.json?.path, '/other', 'the app receives the normalized path');
      await remove('deny-admin', [ECHO]);
      assert.equal((await call('/admin')).status, 200);
    });
  });
});
