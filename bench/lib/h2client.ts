// A small HTTP/2 client for the open-loop generator: N h2c sessions (prior knowledge, node:http2),
// requests spread round-robin over them, each resolved with its status once the last body byte is in.
// undici speaks HTTP/2 only over TLS (ALPN), and every setup's entry point is plaintext.
import http2 from 'node:http2';

export interface H2Client {
  get(): Promise<number>;
  close(): Promise<void>;
}

export async function h2Client(
  origin: string,
  path: string,
  authority: string | undefined,
  sessions: number,
): Promise<H2Client> {
  const list = await Promise.all(
    Array.from(
      { length: sessions },
      () =>
        new Promise<http2.ClientHttp2Session>((resolve, reject) => {
          const s = http2.connect(origin, { peerMaxConcurrentStreams: 1000 });
          s.once('connect', () => resolve(s));
          s.once('error', reject);
          s.on('error', () => {}); // later errors fail the requests on it, not the process
        }),
    ),
  );
  let next = 0;
  const headers = { ':path': path, ':method': 'GET', ...(authority ? { ':authority': authority } : {}) };
  return {
    get: () =>
      new Promise<number>((resolve, reject) => {
        const s = list[next++ % list.length]!;
        if (s.closed || s.destroyed)
          return reject(Object.assign(new Error('session closed'), { code: 'H2_CLOSED' }));
        const req = s.request(headers, { endStream: true });
        let status = 0;
        let timedOut = false;
        req.setTimeout(10_000, () => {
          timedOut = true;
          req.close(http2.constants.NGHTTP2_CANCEL);
        });
        req.once('response', (h) => (status = Number(h[':status'])));
        req.on('data', () => {});
        req.once('end', () => {
          if (status) resolve(status);
        });
        req.once('error', reject);
        // No response headers before the stream closed: our 10 s timeout, or a reset by the server
        // (REFUSED_STREAM = 7 when it has too many streams open, …), reported by its code.
        req.once('close', () => {
          if (status) return;
          const code = timedOut ? 'timeout' : `H2_RST_${req.rstCode}`;
          reject(Object.assign(new Error(`stream closed without a response (${code})`), { code }));
        });
      }),
    // Destroy, not close(): a graceful close waits for every open stream, and a stuck one would hang the run.
    close: async () => {
      for (const s of list) s.destroy();
    },
  };
}
