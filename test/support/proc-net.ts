// The kernel's view of this machine's TCP sockets (/proc/net/tcp and tcp6): which timer an established
// socket runs, so a test can see SO_KEEPALIVE from outside the process that set it.
import { readFile } from 'node:fs/promises';

export interface TcpSocketTimer {
  localPort: number;
  remotePort: number;
  /** `keepalive` on an idle socket with SO_KEEPALIVE; `none` on an idle one without. */
  timer: 'none' | 'retransmit' | 'keepalive' | 'time-wait' | 'zero-window-probe';
  /** Seconds until the timer fires. */
  seconds: number;
}

const TIMERS = ['none', 'retransmit', 'keepalive', 'time-wait', 'zero-window-probe'] as const;
const USER_HZ = 100; // /proc/net/tcp counts clock ticks (getconf CLK_TCK: 100 on Linux)

/** Established sockets whose remote port is `remotePort` (the client side of connections to it). */
export async function tcpTimersTo(remotePort: number): Promise<TcpSocketTimer[]> {
  const out: TcpSocketTimer[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 6 || f[3] !== '01') continue; // 01: ESTABLISHED
      const port = (addr: string) => parseInt(addr.split(':')[1]!, 16);
      if (port(f[2]!) !== remotePort) continue;
      const [tr, when] = f[5]!.split(':');
      out.push({
        localPort: port(f[1]!),
        remotePort,
        timer: TIMERS[parseInt(tr!, 16)] ?? 'none',
        seconds: parseInt(when!, 16) / USER_HZ,
      });
    }
  }
  return out;
}
