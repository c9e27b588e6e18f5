// The consistent-hash key of a request (DestinationRule consistentHash): a header, a cookie, the
// client's IP or a query parameter. A cookie policy with a ttl creates the cookie when the client has
// none, so later requests stick to the same endpoint (Envoy does the same).
import { randomBytes } from 'node:crypto';
import type { HashPolicy } from '../../model/snapshot.js';
import { murmur3 } from '../../lib/hash.js';
import type { RequestCtx } from './context.js';

function cookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function query(q: string, name: string): string | undefined {
  for (const part of q.split('&')) {
    const eq = part.indexOf('=');
    if ((eq < 0 ? part : part.slice(0, eq)) === name) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return undefined;
}

export function hashKey(ctx: RequestCtx, p: HashPolicy): number | undefined {
  let v: string | undefined;
  if (p.header) {
    const h = ctx.req.headers[p.header];
    v = Array.isArray(h) ? h.join(',') : h;
  } else if (p.cookie) {
    v = cookie(ctx.req.headers.cookie, p.cookie.name);
    if (v === undefined && p.cookie.ttlMs !== undefined) {
      v = randomBytes(8).toString('hex');
      const attrs = [`${p.cookie.name}=${v}`, `Max-Age=${Math.round(p.cookie.ttlMs / 1000)}`, 'HttpOnly'];
      if (p.cookie.path) attrs.push(`Path=${p.cookie.path}`);
      ctx.responseEdits.push({ add: [['set-cookie', attrs.join('; ')]] });
    }
  } else if (p.sourceIp) {
    v = ctx.req.socket.remoteAddress;
  } else if (p.queryParam) {
    v = query(ctx.query, p.queryParam);
  }
  return v === undefined ? undefined : murmur3(v);
}
