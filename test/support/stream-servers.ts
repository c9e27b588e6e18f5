// Small workload processes for protocol tests, chosen by argv[2]:
//   ws   a WebSocket echo server (the `ws` package) that also says which pod answered;
//   tcp  a TCP server that speaks first ("hello from <pod>\n") and then echoes what it gets.
// Both listen on $HOST:$PORT (127.0.0.1 by default) and exit on SIGTERM.
import net from 'node:net';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const pod = process.env.POD_NAME ?? 'local';

export function wsEcho(): http.Server {
  const server = http.createServer((_req, res) => res.end('ok'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    ws.send(JSON.stringify({ pod, xfcc: req.headers['x-forwarded-client-cert'] ?? null }));
    ws.on('message', (m, binary) => ws.send(m, { binary }));
  });
  return server;
}

export function tcpEcho(): net.Server {
  return net.createServer((s) => {
    s.write(`hello from ${pod}\n`);
    s.pipe(s);
    s.on('error', () => s.destroy());
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server: net.Server = process.argv[2] === 'tcp' ? tcpEcho() : wsEcho();
  server.listen(Number(process.env.PORT ?? 8080), process.env.HOST ?? '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
  process.on('SIGINT', () => process.exit(0));
}
