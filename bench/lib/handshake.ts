// New mTLS connections per second into the server-side proxy (issue 6, scenario 4): `openssl s_time -new`
// (a full handshake per connection, no session reuse) with a client certificate, several in parallel on the
// generator's CPU, for a few seconds. The rate is bounded by whichever side runs out of CPU first (openssl
// signs and verifies too), so the report also gives the proxy's own CPU time per handshake, which is not.
import { execFile } from 'node:child_process';

export interface HandshakeResult {
  parallel: number;
  durationS: number;
  connections: number;
  perSecond: number;
}

function sTime(
  port: number,
  cert: string,
  key: string,
  seconds: number,
  cpus: string | undefined,
): Promise<number> {
  const args = [
    's_time',
    '-connect',
    `127.0.0.1:${port}`,
    '-new',
    '-cert',
    cert,
    '-key',
    key,
    '-time',
    String(seconds),
  ];
  const [file, argv] = cpus ? ['taskset', ['-c', cpus, 'openssl', ...args]] : ['openssl', args];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: (seconds + 20) * 1000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      // "N connections in T real seconds, B bytes read per connection"
      const m = /(\d+) connections in ([\d.]+) real seconds/.exec(stdout);
      if (m) resolve(Number(m[1]));
      else reject(new Error(`openssl s_time to ${port} failed: ${err?.message ?? ''}\n${stdout}\n${stderr}`));
    });
  });
}

export async function handshakes(
  port: number,
  cert: string,
  key: string,
  o: { parallel: number; durationS: number; cpus?: string },
): Promise<HandshakeResult> {
  const seconds = Math.max(1, Math.round(o.durationS));
  const counts = await Promise.all(
    Array.from({ length: o.parallel }, () => sTime(port, cert, key, seconds, o.cpus)),
  );
  const connections = counts.reduce((a, b) => a + b, 0);
  return { parallel: o.parallel, durationS: seconds, connections, perSecond: connections / seconds };
}
