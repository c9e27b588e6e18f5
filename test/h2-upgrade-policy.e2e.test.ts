// DestinationRule connectionPool.http.h2UpgradePolicy through real sidecars: an HTTP/1.1 client's
// requests reach the peer proxy as HTTP/2 with UPGRADE (the access log of the app's sidecar prints the
// protocol they arrived with) and as HTTP/1.1 without a rule or with DO_NOT_UPGRADE; the app itself is
// spoken to in HTTP/1.1 either way. WebSocket upgrades and CONNECT tunnels keep working under UPGRADE.
// On an upgraded cluster maxRequestsPerConnection, idleTimeout and maxConcurrentStreams start new
// sessions between the sidecars: the app's sidecar logs (Istio's TEXT format) the client sidecar's port each request came from.
// tcp.idleTimeout closes idle tunnels, and tcp.tcpKeepalive sets SO_KEEPALIVE (seen in /proc/net/tcp).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { wsConversation } from './support/ws-client.js';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';
import { clientYaml, STREAM_APPS_YAML } from './support/mesh-yaml.js';
import { tcpTimersTo } from './support/proc-net.js';

const rules = (policy: string, limits = '') =>
  ['echo', 'ws-echo', 'tcp-echo']
    .map(
      (host) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: default}
spec:
  host: ${host}
  trafficPolicy:
    connectionPool: {http: {h2UpgradePolicy: ${policy}${limits}}}`,
    )
    .join('\n---\n');

describe('h2UpgradePolicy between sidecars', { timeout: 180_000 }, () => {
  let mesh: RunningMesh;
  let outbound: number;
  let dir: string;
  let n = 0;

  /** One HTTP/1.1 request through the client sidecar (a fresh connection each time). */
  const send = (path: string, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: outbound,
          path,
          method: body === undefined ? 'GET' : 'POST',
          headers: { host: 'echo:8080' },
          agent: false,
        },
        (r) => {
          let text = '';
          r.on('data', (c: Buffer) => (text += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, text }));
        },
      );
      req.on('error', () => resolve({ status: 0, text: '' }));
      req.end(body);
    });

  /** The access log of the echo instance's sidecar (the inbound side). */
  const echoLog = async () => {
    const logs = join(mesh.stateDir, 'logs');
    const file = (await readdir(logs)).find((f) => f.startsWith('echo') && f.endsWith('.proxy.log'));
    assert.ok(file, 'the echo proxy log');
    return readFile(join(logs, file), 'utf8');
  };

  /** Sends requests until one arrives at the echo sidecar with `version` (config pushes take a moment). */
  const arrivesAs = async (version: '1.1' | '2.0') => {
    let path = '';
    await waitFor(`a request arriving at the echo sidecar as HTTP/${version}`, async () => {
      path = `/p${++n}`;
      const r = await send(path);
      if (r.status !== 200) return false;
      // The app is spoken to in HTTP/1.1 whatever the hop between the proxies was.
      assert.equal((JSON.parse(r.text) as { proto: string }).proto, 'HTTP/1.1');
      const re = new RegExp(`"GET ${path} HTTP/(\\d\\.\\d)"`);
      let m: RegExpMatchArray | null = null;
      for (let i = 0; i < 20 && !m; i++) {
        m = (await echoLog()).match(re);
        if (!m) await new Promise((r2) => setTimeout(r2, 100));
      }
      return m?.[1] === version;
    });
    return path;
  };

  const apply = async (name: string, yaml: string) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, yaml);
    const r = await mesh.weft(['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  };

  before(async () => {
    dir = await tempDir();
    outbound = await freePort();
    const file = join(dir, 'mesh.yaml');
    await writeFile(file, [...STREAM_APPS_YAML, clientYaml(outbound)].join('\n'));
    mesh = await RunningMesh.up([file]);
    await waitFor(
      'echo reachable through the client sidecar',
      async () => (await send('/ready')).status === 200,
    );
  });

  after(async () => {
    await mesh?.stop();
  });

  test('without a rule, HTTP/1.1 between the sidecars', async () => {
    const path = await arrivesAs('1.1');
    assert.doesNotMatch(await echoLog(), new RegExp(`"GET ${path} HTTP/2\\.0"`));
  });

  test('UPGRADE: HTTP/1.1 from the app travels as HTTP/2 to the peer proxy, bodies included', async () => {
    await apply('upgrade', rules('UPGRADE'));
    await arrivesAs('2.0');
    const body = 'x'.repeat(200_000);
    const r = await send('/post-upgraded', body);
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.text) as { bodyLength: number; proto: string; method: string };
    assert.deepEqual([echo.bodyLength, echo.proto, echo.method], [body.length, 'HTTP/1.1', 'POST']);
    await waitFor('the POST in the echo access log', async () =>
      (await echoLog()).includes('"POST /post-upgraded HTTP/2.0"'),
    );
  });

  test('UPGRADE: a WebSocket upgrade is still a tunnel and carries messages both ways', async () => {
    const messages = await wsConversation(outbound, 'ws-echo:8081', ['ping 1']);
    assert.match(messages[0]!, /ws-echo/);
    assert.equal(messages[1], 'ping 1');
  });

  test('UPGRADE: CONNECT to a TCP service is still a tunnel', async () => {
    const socket = net.connect(outbound, '127.0.0.1');
    let buf = '';
    const seen = (re: RegExp) => waitFor(`${re} on the CONNECT tunnel`, async () => re.test(buf), 10_000);
    socket.on('data', (d: Buffer) => (buf += d.toString()));
    socket.on('error', () => {});
    socket.write('CONNECT tcp-echo:9000 HTTP/1.1\r\nHost: tcp-echo:9000\r\n\r\n');
    await seen(/HTTP\/1\.1 200 Connection Established\r\n\r\n/);
    const start = buf.length;
    socket.write('hello through the tunnel\n');
    await seen(/hello through the tunnel\n/);
    assert.ok(buf.length > start);
    socket.destroy();
  });

  test('DO_NOT_UPGRADE: back to HTTP/1.1 between the sidecars', async () => {
    await apply('do-not-upgrade', rules('DO_NOT_UPGRADE'));
    await arrivesAs('1.1');
  });

  test('MeshConfig h2UpgradePolicy UPGRADE: rules that say DEFAULT follow it, DO_NOT_UPGRADE still wins', async () => {
    const mesh = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  h2UpgradePolicy: UPGRADE`;
    await apply('mesh-upgrade', mesh);
    await apply('default', rules('DEFAULT'));
    await arrivesAs('2.0');
    // The rule's own DO_NOT_UPGRADE overrides the mesh.
    await apply('do-not-upgrade', rules('DO_NOT_UPGRADE'));
    await arrivesAs('1.1');
  });

  test('UPGRADE with maxRequestsPerConnection, idleTimeout and maxConcurrentStreams: new sessions between the sidecars', async () => {
    await apply(
      'mesh-upgrade',
      `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: {name: default}
spec:
  h2UpgradePolicy: UPGRADE
  accessLogFile: /dev/stdout`,
    );
    /** The client sidecar's port each request arrived from (DOWNSTREAM_REMOTE_ADDRESS on the echo side). */
    const portsOf = async (paths: string[]) =>
      waitFor(`${paths.join(' ')} in the echo access log`, async () => {
        const lines = (await echoLog()).split('\n');
        const ports = paths.map((p) => {
          const line = lines.find((l) => l.includes(`"GET ${p} HTTP/2"`));
          // … cluster upstream-local downstream-local downstream-remote sni route
          return line?.split(' ').at(-3)?.split(':').at(-1);
        });
        return ports.every((p) => p !== undefined && /^\d+$/.test(p)) && (ports as string[]);
      });
    const sendAll = async (paths: string[]) => {
      for (const p of paths) assert.equal((await send(p)).status, 200);
      return portsOf(paths);
    };

    await apply('limits', rules('UPGRADE', ', maxRequestsPerConnection: 2'));
    // Istio's format writes the protocol as Envoy does ("HTTP/2").
    await waitFor('requests arriving as HTTP/2 in the TEXT format', async () => {
      const path = `/up${++n}`;
      assert.equal((await send(path)).status, 200);
      await new Promise((r) => setTimeout(r, 300));
      return (await echoLog()).includes(`"GET ${path} HTTP/2"`);
    });
    // Two requests per session: the first of a pair may finish an older session, so look for a
    // pair on one session and a new session after it.
    const paths = [1, 2, 3, 4, 5, 6, 7].map((i) => `/mr${++n}-${i}`);
    const ports = await sendAll(paths);
    const perPort = new Map<string, number>();
    for (const p of ports) perPort.set(p, (perPort.get(p) ?? 0) + 1);
    assert.ok(
      [...perPort.values()].every((c) => c <= 2),
      `at most 2 requests per session: ${ports}`,
    );
    assert.ok(perPort.size >= 4, `7 requests on at least 4 sessions: ${ports}`);

    await apply('limits', rules('UPGRADE', ', idleTimeout: 1s'));
    // Back-to-back requests share a session; after 1.5 s idle, a new one. Twice in a row, so that a new
    // snapshot (which brings new sessions of its own) cannot pass for it.
    let inARow = 0;
    await waitFor('a new session after the idle timeout, twice', async () => {
      const [a, b] = await sendAll([`/it${++n}`, `/it${++n}`]);
      await new Promise((r) => setTimeout(r, 1_500));
      const [c, d] = await sendAll([`/it${++n}`, `/it${++n}`]);
      inARow = a === b && c === d && c !== b ? inARow + 1 : 0;
      return inARow >= 2;
    });

    // maxConcurrentStreams 1: three requests under way at once travel on three sessions; one after
    // another they share one of those.
    await apply('limits', rules('UPGRADE', ', maxConcurrentStreams: 1'));
    await waitFor('three requests at once on three sessions', async () => {
      const paths = [1, 2, 3].map((i) => `/mc${++n}-${i}?delay=400ms`);
      const answers = await Promise.all(paths.map((p) => send(p)));
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200, 200],
      );
      const ports = await portsOf(paths);
      if (new Set(ports).size !== 3) return false;
      const after = await sendAll([`/mc${++n}`, `/mc${++n}`, `/mc${++n}`]);
      assert.equal(new Set(after).size, 1, `one after another on one session: ${after}`);
      assert.ok(ports.includes(after[0]!), `a session opened before: ${after} among ${ports}`);
      return true;
    });
  });

  test('tcp.idleTimeout closes an idle CONNECT tunnel, not one that carries bytes', async () => {
    await apply(
      'tcp-idle',
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo, namespace: default}
spec:
  host: tcp-echo
  trafficPolicy:
    connectionPool: {tcp: {idleTimeout: 1s}}`,
    );
    /** A CONNECT tunnel to tcp-echo, open once the proxy says so; `closed` tells when it closed. */
    const tunnel = async () => {
      const socket = net.connect(outbound, '127.0.0.1');
      let buf = '';
      let opened = 0;
      socket.on('data', (d: Buffer) => {
        buf += d.toString();
        if (!opened && buf.includes('200 Connection Established')) opened = Date.now();
      });
      socket.on('error', () => {});
      const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now())));
      socket.write('CONNECT tcp-echo:9000 HTTP/1.1\r\nHost: tcp-echo:9000\r\n\r\n');
      await waitFor('the tunnel', async () => opened > 0, 10_000);
      return { socket, closed, text: () => buf, opened };
    };
    // Idle: closed after about a second (the rule reaches the client's proxy in a moment).
    await waitFor('an idle tunnel closed after 1 s', async () => {
      const t = await tunnel();
      const at = await Promise.race([t.closed, new Promise<number>((r) => setTimeout(() => r(0), 3_000))]);
      t.socket.destroy();
      return at > 0 && at - t.opened >= 800;
    });
    // Bytes every 300 ms for 2.5 s: open all along, each echoed; closed a second after they stop.
    const t = await tunnel();
    for (let i = 0; i < 8; i++) {
      t.socket.write(`line ${i}\n`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(t.socket.destroyed, false, `open at line ${i}`);
    }
    assert.match(t.text(), /line 7\n/);
    const stopped = Date.now();
    const at = await Promise.race([t.closed, new Promise<number>((r) => setTimeout(() => r(0), 5_000))]);
    assert.ok(at > 0, 'closed once idle');
    assert.ok(at - stopped >= 600, `closed ${at - stopped} ms after the last bytes`);
  });

  test('tcp.tcpKeepalive: SO_KEEPALIVE on the mTLS connections and tunnels between the sidecars', async () => {
    const rule = (host: string, keepalive: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: default}
spec:
  host: ${host}
  trafficPolicy:
    connectionPool: {tcp: {tcpKeepalive: ${keepalive}}}`;
    // Interval and probes load setsockopt code into the sidecar and set both on its TLS sockets (their
    // values are checked on sockets in-process, transport/keepalive.test.ts: /proc shows neither).
    await apply(
      'keepalive',
      `${rule('echo', '{time: 7s, interval: 3s, probes: 4}')}\n---\n${rule('tcp-echo', '{time: 9s, probes: 2}')}`,
    );
    const inbound = async (workload: string) =>
      (await mesh.instances()).find((i) => i.workload === workload)!.ports!.inbound;
    // The kernel's keep-alive timer on the client sidecar's connections to a peer sidecar.
    const probesWithin = async (port: number, low: number, high: number) =>
      (await tcpTimersTo(port)).some((s) => s.timer === 'keepalive' && s.seconds > low && s.seconds <= high);
    const echoPort = await inbound('echo');
    await waitFor('a keep-alive (7 s) connection to the echo sidecar', async () => {
      await send(`/keepalive${++n}`);
      return probesWithin(echoPort, 0, 7);
    });
    const tcpPort = await inbound('tcp-echo');
    const socket = net.connect(outbound, '127.0.0.1');
    socket.on('error', () => {});
    try {
      let buf = '';
      socket.on('data', (d: Buffer) => (buf += d.toString()));
      socket.write('CONNECT tcp-echo:9000 HTTP/1.1\r\nHost: tcp-echo:9000\r\n\r\n');
      await waitFor('the tunnel', async () => buf.includes('200 Connection Established'), 10_000);
      await waitFor(
        'a keep-alive (9 s) tunnel to the tcp-echo sidecar',
        () => probesWithin(tcpPort, 7, 9),
        5_000,
      );
    } finally {
      socket.destroy();
    }
  });
});
