// The benchmark's backend app, run as its own process (not inside the load generator) so serving and
// sending do not share one event loop. Answers every request with the same 1 KB body on a keep-alive
// connection and reports its port to the parent over IPC.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const BODY = Buffer.alloc(1024, 'w');

const server = http.createServer((req, res) => {
  req.resume(); // GET has no body, but drain anyway so a stray body cannot stall the connection
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
  res.end(BODY);
});
// Longer than any client's idle timeout: the server must never be the side that closes a pooled
// connection mid-run (that race shows up as sporadic ECONNRESET errors, not as latency).
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// If the bench dies without stopping us, the IPC channel closes: do not outlive it.
process.on('disconnect', stop);
