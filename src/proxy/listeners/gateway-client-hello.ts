// Reading a TLS ClientHello without answering it, like Envoy's tls_inspector: the gateway needs the SNI
// before the handshake, to pick the server (certificate, client-certificate policy, routes) or to route
// the raw bytes elsewhere (PASSTHROUGH). The bytes read are handed back to whoever takes the connection.
import type net from 'node:net';

const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_ALPN = 0x0010;
/** A ClientHello larger than this is refused (post-quantum key shares make them ~2 KiB today). */
export const MAX_CLIENT_HELLO = 64 * 1024;

export interface ClientHello {
  /** The server name the client asked for, lower-case; undefined when it sent none. */
  sni: string | undefined;
  alpn: string[];
}

export type HelloParse = { done: false } | { done: true; hello: ClientHello } | { done: true; error: string };

/** Parse what has arrived so far: not enough yet, a ClientHello, or why it is not one. */
export function parseClientHello(buf: Buffer): HelloParse {
  // Records: type(1) version(2) length(2) fragment. A ClientHello may span several records.
  const fragments: Buffer[] = [];
  let off = 0;
  let have = 0;
  let need = -1; // handshake message length, header included, once known
  while (need < 0 || have < need) {
    if (buf.length < off + 5) return { done: false };
    if (buf[off] !== HANDSHAKE)
      return { done: true, error: off === 0 ? 'not a TLS handshake' : 'unexpected TLS record' };
    if (buf[off + 1] !== 0x03) return { done: true, error: 'unsupported TLS record version' };
    const len = buf.readUInt16BE(off + 3);
    if (len === 0) return { done: true, error: 'empty TLS record' };
    if (buf.length < off + 5 + len) return { done: false };
    fragments.push(buf.subarray(off + 5, off + 5 + len));
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const head = Buffer.concat(fragments).subarray(0, 4);
      if (head[0] !== CLIENT_HELLO)
        return { done: true, error: 'the first handshake message is not a ClientHello' };
      need = 4 + head.readUIntBE(1, 3);
      if (need > MAX_CLIENT_HELLO) return { done: true, error: 'ClientHello too large' };
    }
    if (off > MAX_CLIENT_HELLO + 1024) return { done: true, error: 'ClientHello too large' };
  }
  try {
    return { done: true, hello: readHello(Buffer.concat(fragments).subarray(4, need)) };
  } catch (e) {
    return { done: true, error: `malformed ClientHello: ${(e as Error).message}` };
  }
}

function readHello(b: Buffer): ClientHello {
  let p = 2 + 32; // legacy_version, random
  const skip = (lenBytes: number) => {
    if (p + lenBytes > b.length) throw new Error('truncated');
    const n = b.readUIntBE(p, lenBytes);
    p += lenBytes + n;
    if (p > b.length) throw new Error('truncated');
  };
  skip(1); // session id
  skip(2); // cipher suites
  skip(1); // compression methods
  const hello: ClientHello = { sni: undefined, alpn: [] };
  if (p === b.length) return hello; // no extensions
  if (p + 2 > b.length) throw new Error('truncated extensions');
  const end = p + 2 + b.readUInt16BE(p);
  p += 2;
  if (end > b.length) throw new Error('truncated extensions');
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const data = b.subarray(p + 4, p + 4 + len);
    p += 4 + len;
    if (p > end) throw new Error('truncated extension');
    if (type === EXT_SERVER_NAME && data.length >= 2) {
      let q = 2;
      const listEnd = Math.min(data.length, 2 + data.readUInt16BE(0));
      while (q + 3 <= listEnd) {
        const nameType = data[q]!;
        const n = data.readUInt16BE(q + 1);
        if (q + 3 + n > listEnd) throw new Error('truncated server name');
        if (nameType === 0) {
          hello.sni = data
            .subarray(q + 3, q + 3 + n)
            .toString('latin1')
            .toLowerCase()
            .replace(/\.$/, '');
          break;
        }
        q += 3 + n;
      }
    } else if (type === EXT_ALPN && data.length >= 2) {
      let q = 2;
      while (q < data.length) {
        const n = data[q]!;
        hello.alpn.push(data.subarray(q + 1, q + 1 + n).toString('latin1'));
        q += 1 + n;
      }
    }
  }
  return hello;
}

/**
 * Read a connection's ClientHello, then put every byte back (the socket is left paused, for the next
 * owner to resume). Resolves with the hello, or with the reason the connection should be closed.
 */
export function peekClientHello(
  socket: net.Socket,
  timeoutMs: number,
): Promise<{ hello: ClientHello } | { error: string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (r: { hello: ClientHello } | { error: string }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      if (size) socket.unshift(Buffer.concat(chunks, size));
      resolve(r);
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      const r = parseClientHello(chunks.length === 1 ? c : Buffer.concat(chunks, size));
      if (!r.done) return;
      finish('error' in r ? { error: r.error } : { hello: r.hello });
    };
    const onEnd = () => finish({ error: 'the client closed the connection before its ClientHello' });
    const timer = setTimeout(() => finish({ error: `no ClientHello within ${timeoutMs} ms` }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

/**
 * Envoy's server_names match: the exact name first, then wildcards from the longest suffix
 * ("*.b.example.com" before "*.example.com"), then a server without names (hosts "*").
 */
export function matchSni<T extends { sniHosts: string[] }>(
  servers: readonly T[],
  sni: string | undefined,
): T | undefined {
  if (sni) {
    const exact = servers.find((s) => s.sniHosts.includes(sni));
    if (exact) return exact;
    const labels = sni.split('.');
    for (let i = 1; i < labels.length; i++) {
      const wildcard = `*.${labels.slice(i).join('.')}`;
      const hit = servers.find((s) => s.sniHosts.includes(wildcard));
      if (hit) return hit;
    }
  }
  return servers.find((s) => s.sniHosts.length === 0);
}
