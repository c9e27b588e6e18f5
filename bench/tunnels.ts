// What a new TCP connection through the mesh costs: CONNECT tunnels through the client's sidecar to the
// backend, declared a TCP service, so that each is an opaque stream over mTLS between the two sidecars
// (one request with `Connection: close` inside, then the tunnel closes). Reports tunnels per second and
// the CPU time of each sidecar per tunnel. Tunnels to a peer resume its TLS session (transport/tunnel.ts),
// so after the first this is the cost of a resumed handshake plus the tunnel's set-up and teardown.
//
// Run: npm run bench:tunnels  (add --quick for a short run)
import net from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackend } from './lib/backend.js';
import { startMesh } from './lib/mesh.js';
import { sample } from './lib/procstat.js';

const QUICK = process.argv.includes('--quick');
const TUNNELS = QUICK ? 300 : 2000;
const PARALLEL = 4;

/** One tunnel: CONNECT, a request inside it, the answer until the backend closes. True when it came. */
function tunnel(outbound: number, target: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(outbound, '127.0.0.1');
    let buf = '';
    let asked = false;
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 10_000);
    s.on('connect', () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (!asked && buf.startsWith('HTTP/1.1 200') && buf.includes('\r\n\r\n')) {
        asked = true;
        buf = '';
        s.write('GET / HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n');
      }
    });
    s.on('close', () => done(asked && buf.startsWith('HTTP/1.1 200')));
    s.on('error', () => done(false));
  });
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'weft-bench-tunnels-'));
  const backend = await startBackend();
  const mesh = await startMesh(join(dir, 'weft'), backend.port, { portName: 'tcp' });
  try {
    const target = `backend:${backend.port}`;
    const pid = (prefix: string) => Object.entries(mesh.proxies).find(([id]) => id.startsWith(prefix))![1];
    const [client, server] = [pid('client-'), pid('backend-')];
    for (let i = 0; i < 50; i++)
      if (!(await tunnel(mesh.outboundPort, target))) throw new Error('warm-up failed');
    const [c0, s0, t0] = [sample([client]), sample([server]), performance.now()];
    let next = 0;
    let ok = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next++ < TUNNELS) if (await tunnel(mesh.outboundPort, target)) ok++;
      }),
    );
    const secs = (performance.now() - t0) / 1000;
    const [c1, s1] = [sample([client]), sample([server])];
    const perTunnel = (a: typeof c0, b: typeof c0) => (((b.cpuS - a.cpuS) * 1e6) / ok).toFixed(0);
    process.stdout.write(
      [
        `${ok} of ${TUNNELS} tunnels, ${PARALLEL} at a time, in ${secs.toFixed(1)} s: ${(ok / secs).toFixed(0)} tunnels/s`,
        `| sidecar | CPU per tunnel (µs) | RSS after (MB) |`,
        `| --- | --: | --: |`,
        `| client (opens the tunnel) | ${perTunnel(c0, c1)} | ${c1.rssMB.toFixed(1)} |`,
        `| backend (accepts it) | ${perTunnel(s0, s1)} | ${s1.rssMB.toFixed(1)} |`,
        '',
      ].join('\n'),
    );
    if (ok < TUNNELS) process.exitCode = 1;
  } finally {
    await mesh.stop();
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
