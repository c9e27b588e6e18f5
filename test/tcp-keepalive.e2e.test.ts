// DestinationRule tcpKeepalive as the kernel carries it out, through a real sidecar: CONNECT tunnels
// through the client sidecar to an endpoint on a host of its own (a network namespace), whose address
// then vanishes without a FIN or RST, as a host that lost power. With `time: 1s, interval: 1s, probes: 2`
// the sidecar's upstream socket gives up after about 3 s of silence and the tunnel closes; with `time: 1s`
// alone libuv's 10 probes keep it about 11 s, so that tunnel is still open when the first one closes.
// Needs root for the namespace; elsewhere the test says why it is skipped.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';
import { clientYaml } from './support/mesh-yaml.js';
import { NetnsHost } from './support/netns.js';

const PORT = 7000;

const config = (address: string, host: string, keepalive: string) => `
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${host.split('.')[0]}, namespace: default}
spec:
  hosts: [${host}]
  location: MESH_EXTERNAL
  ports: [{number: ${PORT}, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: ${address}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host.split('.')[0]}, namespace: default}
spec:
  host: ${host}
  trafficPolicy:
    connectionPool: {tcp: {tcpKeepalive: ${keepalive}}}`;

interface Tunnel {
  socket: net.Socket;
  /** Resolves with Date.now() when the tunnel closes. */
  closed: Promise<number>;
}

/** A CONNECT tunnel through the sidecar to `host`, once the server's banner and an echo came back. */
async function tunnel(outbound: number, host: string): Promise<Tunnel> {
  const socket = net.connect(outbound, '127.0.0.1');
  socket.on('error', () => {});
  const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now())));
  let buf = '';
  socket.on('data', (d: Buffer) => (buf += d.toString()));
  socket.write(`CONNECT ${host}:${PORT} HTTP/1.1\r\nHost: ${host}:${PORT}\r\n\r\n`);
  await waitFor(`the tunnel to ${host}`, async () => buf.includes('hello from'), 10_000);
  assert.match(buf, /^HTTP\/1\.1 200/);
  socket.write('ping\n');
  await waitFor(`the echo from ${host}`, async () => buf.includes('ping'), 5_000);
  return { socket, closed };
}

describe('tcpKeepalive interval and probes against a peer that vanished', { timeout: 120_000 }, () => {
  let peer: NetnsHost | string;
  let mesh: RunningMesh | undefined;
  let outbound = 0;

  before(async () => {
    peer = await NetnsHost.create();
    if (typeof peer === 'string') return;
    const server = peer.spawn(['node', 'dist/test/support/stream-servers.js', 'tcp'], {
      HOST: peer.address,
      PORT: String(PORT),
      POD_NAME: 'vanishing',
    });
    assert.ok(server.pid);
    const dir = await tempDir();
    outbound = await freePort();
    const file = join(dir, 'mesh.yaml');
    await writeFile(
      file,
      clientYaml(outbound) +
        config(peer.address, 'quick.keepalive.test', '{time: 1s, interval: 1s, probes: 2}') +
        config(peer.address, 'slow.keepalive.test', '{time: 1s}'),
    );
    mesh = await RunningMesh.up([file]);
  });

  after(async () => {
    await mesh?.stop();
    if (typeof peer !== 'string') await peer.destroy();
  });

  test('the tunnel with 2 probes 1 s apart closes after ~3 s of silence; libuv’s 10 are still going', async (t) => {
    if (typeof peer === 'string') return t.skip(peer);
    const quick = await tunnel(outbound, 'quick.keepalive.test');
    const slow = await tunnel(outbound, 'slow.keepalive.test');
    const silent = Date.now();
    await peer.vanish();
    const at = await Promise.race([quick.closed, new Promise<number>((r) => setTimeout(() => r(0), 10_000))]);
    assert.ok(at > 0, 'the quick tunnel closed within 10 s');
    // 1 s idle, then 2 probes 1 s apart: ~3 s. Never before the probes could have gone unanswered.
    assert.ok(at - silent >= 2_000, `closed ${at - silent} ms after the peer vanished`);
    // The other tunnel's sidecar socket sends up to 10 probes (~11 s): it is still open.
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(slow.socket.destroyed, false, 'the tunnel with libuv’s 10 probes is still open');
    slow.socket.destroy();
  });
});
