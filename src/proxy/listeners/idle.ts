// Idle timeouts, ordered so that the client side of every keep-alive hop closes an idle connection
// before the server side does: otherwise a client may reuse a connection at the instant the server
// closes it, and the request fails with a reset nobody can safely retry.
//   app → outbound listener, peer → inbound listener: servers keep idle connections 5 minutes (Envoy
//     keeps them an hour; apps' own pools close theirs much sooner);
//   outbound → peer: our pool drops idle connections after 60 s;
//   inbound → app: our pool drops them after 4 s, under Node's and most servers' 5 s default.
export const SERVER_KEEPALIVE_MS = 300_000;
export const MESH_POOL_IDLE_MS = 60_000;
export const APP_POOL_IDLE_MS = 4_000;

export function longIdle<T extends { keepAliveTimeout: number; headersTimeout: number }>(server: T): T {
  server.keepAliveTimeout = SERVER_KEEPALIVE_MS;
  return server;
}
