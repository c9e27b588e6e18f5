// Opaque TCP through a sidecar's outbound port: CONNECT to tcp-echo (stream-servers.ts: a banner, then
// every byte back). Each tunnel opens its own mTLS connection between the two proxies.
import net from 'node:net';

/** undefined when `payload` came back through the tunnel, else what went wrong. */
export function tcpTunnel(
  outbound: number,
  payload: string,
  target = 'tcp-echo:9000',
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(outbound, '127.0.0.1');
    let buf = '';
    let sent = false;
    const done = (error?: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(error);
    };
    const timer = setTimeout(() => done(`timeout, got ${JSON.stringify(buf)}`), 5000);
    socket.on('connect', () => socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    socket.on('data', (d: Buffer) => {
      buf += d.toString();
      if (!/^HTTP\/1\.1 200/.test(buf)) {
        if (buf.includes('\r\n\r\n')) done(`CONNECT refused: ${buf.split('\r\n')[0]}`);
        return;
      }
      if (!sent && buf.includes('hello from ')) {
        sent = true;
        socket.write(payload);
      }
      if (sent && buf.includes(payload)) done();
    });
    socket.on('error', (e) => done(`socket error ${e.message}`));
    socket.on('close', () => done(`closed early, got ${JSON.stringify(buf)}`));
  });
}
