// An app that says what request body it received, so a test can tell the proxy delivered it byte for
// byte: answers JSON {path, size, sha256, headers}. Listens on 127.0.0.1:$PORT; /health is always 200.
import http from 'node:http';
import { createHash } from 'node:crypto';

export interface BodyDigest {
  path: string;
  size: number;
  sha256: string;
  headers: http.IncomingHttpHeaders;
}

const server = http.createServer((req, res) => {
  const hash = createHash('sha256');
  let size = 0;
  req.on('data', (c: Buffer) => {
    hash.update(c);
    size += c.length;
  });
  req.on('end', () => {
    const digest: BodyDigest = {
      path: req.url ?? '',
      size,
      sha256: hash.digest('hex'),
      headers: req.headers,
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(digest));
  });
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
