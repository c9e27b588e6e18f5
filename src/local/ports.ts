import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A port the OS says is free on loopback right now (the usual bind-to-0 trick). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
