// An HTTP/1.1 app for the h2c-client tests (test/h2c-upstream.e2e.test.ts), run as a mesh workload on
// PORT. Its answers carry what HTTP/2 forbids or cannot express directly:
//   /hop?size=N   N bytes, chunked, with `connection: keep-alive` and `keep-alive: timeout=5`
//   /cut          chunked, 5 bytes, then the connection is destroyed (a body cut short)
//   /cut-length   content-length 100, 10 bytes, then the connection is destroyed
//   /stream       five chunks 30 ms apart
//   /digest       the request body's length and sha256 (any method)
import http from 'node:http';
import { createHash } from 'node:crypto';

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/digest') {
    const h = createHash('sha256');
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      h.update(c);
    });
    req.on('end', () => res.end(JSON.stringify({ length: n, sha256: h.digest('hex') })));
    return;
  }
  req.resume();
  if (url.pathname === '/hop') {
    const size = Number(url.searchParams.get('size') ?? 1000);
    res.writeHead(200, {
      connection: 'keep-alive',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'content-type': 'application/octet-stream',
    });
    res.write(Buffer.alloc(Math.floor(size / 2), 'a'));
    res.end(Buffer.alloc(size - Math.floor(size / 2), 'b'));
  } else if (url.pathname === '/cut' || url.pathname === '/cut-length') {
    const length = url.pathname === '/cut-length';
    res.writeHead(200, length ? { 'content-length': 100 } : {});
    res.write(length ? '0123456789' : 'part-');
    setTimeout(() => res.socket?.destroy(), 50);
  } else if (url.pathname === '/stream') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    let i = 0;
    const t = setInterval(() => {
      res.write(`chunk ${i}\n`);
      if (++i === 5) {
        clearInterval(t);
        res.end();
      }
    }, 30);
  } else res.writeHead(404).end();
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
