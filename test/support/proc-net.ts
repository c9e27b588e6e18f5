// The kernel's view of this machine's TCP sockets (/proc/net/tcp and tcp6): which timer an established
// socket runs, so a test can see SO_KEEPALIVE from outside the process that set it; and, for a socket of
// this process, the keep-alive interval and probe count.
import { readdir, readFile, readlink } from 'node:fs/promises';
import net from 'node:net';
import { getKeepAliveInterval, getKeepAliveProbes } from 'net-keepalive';

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

/** The fields of each ESTABLISHED line of /proc/net/tcp and tcp6 whose remote port is `remotePort`. */
async function establishedTo(remotePort: number): Promise<string[][]> {
  const rows: string[][] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '01') continue; // 01: ESTABLISHED
      if (port(f[2]!) === remotePort) rows.push(f);
    }
  }
  return rows;
}

const port = (addr: string) => parseInt(addr.split(':')[1]!, 16);

/** Established sockets whose remote port is `remotePort` (the client side of connections to it). */
export async function tcpTimersTo(remotePort: number): Promise<TcpSocketTimer[]> {
  return (await establishedTo(remotePort)).map((f) => {
    const [tr, when] = f[5]!.split(':');
    return {
      localPort: port(f[1]!),
      remotePort,
      timer: TIMERS[parseInt(tr!, 16)] ?? 'none',
      seconds: parseInt(when!, 16) / USER_HZ,
    };
  });
}

export interface KeepaliveOptions {
  /** TCP_KEEPINTVL, in ms. */
  intervalMs: number;
  /** TCP_KEEPCNT. */
  probes: number;
}

/**
 * TCP_KEEPINTVL and TCP_KEEPCNT of this process's one established socket to `remotePort`, read back
 * with getsockopt: the kernel's /proc tables show neither. The socket is found by its inode among this
 * process's descriptors, so the code under test needs to hand out nothing.
 */
export async function keepaliveOptionsTo(remotePort: number): Promise<KeepaliveOptions> {
  const inodes = new Set((await establishedTo(remotePort)).map((f) => f[9]!));
  if (inodes.size !== 1) throw new Error(`${inodes.size} established sockets to port ${remotePort}`);
  const [inode] = inodes;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target !== `socket:[${inode}]`) continue;
    // net-keepalive takes a net.Socket and reads its descriptor from `_handle.fd`: a view of the
    // descriptor for getsockopt, which neither wraps nor closes it.
    const view = Object.assign(Object.create(net.Socket.prototype) as net.Socket, {
      _handle: { fd: Number(fd) },
    });
    return { intervalMs: getKeepAliveInterval(view), probes: getKeepAliveProbes(view) };
  }
  throw new Error(`socket inode ${inode} (to port ${remotePort}) is not this process's`);
}
