// Istio's ext-authz sample (./ext-authz-server.ts) as a mesh workload process: the server itself listens on
// a free loopback port, and $PORT (the port the sidecar sends to) relays bytes to it unchanged.
import net from 'node:net';
import { startExtAuthzServer } from './ext-authz-server.js';

const inner = await startExtAuthzServer();
const front = net.createServer((client) => {
  const upstream = net.connect(inner.port, '127.0.0.1');
  client.pipe(upstream).pipe(client);
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});
front.listen(Number(process.env.PORT ?? 8000), '127.0.0.1');

const stop = () => {
  front.close();
  void inner.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
