// Ports for local mode. Apps and pinned listeners get ports from 20000-32767, below Linux's ephemeral
// range (32768-60999) that listeners on port 0 draw from: a port reserved for an app that binds it only
// later (once its proxy is ready) can then never be taken meanwhile by a proxy's own port-0 listener.
// Each candidate is checked by binding it, and a port handed out once is not handed out again.
import net from 'node:net';

const LOW = 20000;
const HIGH = 32767;
const handedOut = new Set<number>();

function tryBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** Ports the config pins (a sidecar's outboundPort, say) that another process may not have bound yet:
 *  never handed out for an app, whoever picked them. */
export function reservePorts(ports: Iterable<number | undefined>): void {
  for (const p of ports) if (p) handedOut.add(p);
}

/** A free loopback port outside the ephemeral range, not handed out before by this process. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW + 1));
    if (handedOut.has(port)) continue;
    if (await tryBind(port, host)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} on ${host}`);
}
