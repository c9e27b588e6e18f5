// Request bodies, streamed and kept: bytes go to the upstream attempt as they arrive (gRPC streams and
// bidirectional calls must not wait for the end of the request), and up to `limit` bytes are also kept
// so a retry or a mirror can start again from the first byte. A body that outgrows the buffer keeps
// streaming to the current attempt but can no longer be replayed (Envoy's per-request buffer limit).
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Writable } from 'node:stream';

export const RETRY_BUFFER_LIMIT = 64 * 1024;

type Sink = Writable & { end(chunk?: Buffer): unknown };

export class RequestBody {
  private chunks: Buffer[] = [];
  private kept = 0;
  // Made by the first sendTo of a body still arriving: most requests have none, and two Sets were ~0.4 KB
  // of garbage per request.
  private sinks: Set<Sink> | undefined = undefined;
  private paced: Set<Sink> | undefined = undefined; // sinks whose backpressure pauses the request
  /** bytes read so far (the whole body once the request ended) */
  size = 0;
  ended = false;
  /** performance.now() when the last byte came (REQUEST_DURATION); unset for a request without a body,
   *  which ended with its headers. */
  endedAt: number | undefined = undefined;
  /** true once the body outgrew the buffer: it streams on, but cannot be sent again */
  overflowed = false;

  private constructor(private readonly req: IncomingMessage | Http2ServerRequest) {}

  static start(req: IncomingMessage | Http2ServerRequest, limit: number): RequestBody {
    const b = new RequestBody(req);
    // readableEnded: an empty body whose end a check already read (peekBody) will not end again.
    if (!hasBody(req) || req.readableEnded) {
      b.ended = true; // no body: the common case, nothing to wait for
      req.resume();
      return b;
    }
    req.on('data', (c: Buffer) => {
      b.size += c.length;
      if (!b.overflowed) {
        b.kept += c.length;
        if (b.kept > limit) {
          b.overflowed = true;
          b.chunks = [];
        } else b.chunks.push(c);
      }
      if (b.sinks === undefined) return;
      let full = false;
      for (const s of b.sinks) if (!s.write(c) && b.paced!.has(s)) full = true;
      if (full) req.pause();
    });
    req.on('end', () => {
      b.ended = true;
      b.endedAt = performance.now();
      if (b.sinks === undefined) return;
      for (const s of b.sinks) s.end();
      b.sinks.clear();
    });
    return b;
  }

  /** Can a new attempt (retry, mirror) still get the whole body from its first byte? */
  get replayable(): boolean {
    return !this.overflowed;
  }

  get complete(): boolean {
    return this.ended && !this.overflowed;
  }

  /** The whole body, once `complete`. */
  buffered(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
  }

  /**
   * Send the body to an upstream request: what was kept, then the rest as it arrives. `paced` sinks
   * slow the client down when they cannot keep up (the real attempt); mirrors never do.
   */
  sendTo(out: Sink, paced = true): void {
    if (this.overflowed && (this.size > 0 || this.ended))
      throw new Error('the request body can no longer be replayed');
    for (const c of this.chunks) out.write(c);
    if (this.ended) {
      out.end();
      return;
    }
    const sinks = (this.sinks ??= new Set());
    const pacing = (this.paced ??= new Set());
    sinks.add(out);
    if (paced) {
      pacing.add(out);
      out.on('drain', () => this.req.resume());
    }
    const forget = () => {
      sinks.delete(out);
      pacing.delete(out);
    };
    out.once('close', forget);
    out.once('error', forget);
  }

  /**
   * The response is complete and no attempt needs more of the body (an upstream that answered early, e.g.
   * a 403 from the peer's policy): stop letting attempts pace the client, and read the rest so the
   * client's keep-alive connection is not left stalled behind an unread body. Mirrors still get it.
   */
  release(): void {
    if (this.ended) return;
    if (this.paced !== undefined) for (const s of this.paced) this.sinks!.delete(s);
    this.paced?.clear();
    this.req.resume();
  }

  /** Stop feeding an abandoned attempt (a retry takes over). */
  detach(out: Writable): void {
    this.sinks?.delete(out as Sink);
    this.paced?.delete(out as Sink);
  }
}

export interface PeekedBody {
  /** The first `max` bytes (all of them when the body is not longer). */
  data: Buffer;
  /** The body is longer than `max`. */
  partial: boolean;
}

/**
 * Reads the first `max` bytes of a request body for a check (ext_authz with_request_body) and puts every
 * byte read back, so whoever streams the body afterwards (forward, RequestBody) sees it whole, from its
 * first byte. Reads one byte past `max` to tell a body of exactly `max` bytes from a longer one. Resolves
 * undefined for a request without a body; rejects when the client goes away first.
 */
export function peekBody(
  req: IncomingMessage | Http2ServerRequest,
  max: number,
): Promise<PeekedBody | undefined> {
  if (!hasBody(req)) return Promise.resolve(undefined);
  const chunks: Buffer[] = [];
  let size = 0;
  // Attaching 'readable' to an ended, drained stream would emit 'end' before the real reader listens.
  if (sourceEnded(req) && req.readableLength === 0)
    return Promise.resolve({ data: Buffer.alloc(0), partial: false });
  return new Promise((resolve, reject) => {
    const stop = () => {
      req.off('readable', onReadable);
      req.off('error', onGone);
      req.off('close', onGone);
    };
    const onGone = () => {
      stop();
      reject(new Error('the client went away while its body was read for the authorization check'));
    };
    const onReadable = () => {
      // read(n) with n = what is buffered: read() without n would schedule 'end' once the body ended,
      // before unshift could put the bytes back.
      while (size <= max && req.readableLength > 0) {
        const c = req.read(req.readableLength) as Buffer | null;
        if (!c) break;
        chunks.push(c);
        size += c.length;
      }
      if (size <= max && !sourceEnded(req)) return;
      stop();
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      if (size > 0) req.unshift(all);
      resolve({ data: size > max ? all.subarray(0, max) : all, partial: size > max });
    };
    req.on('readable', onReadable);
    req.on('error', onGone);
    req.on('close', onGone);
  });
}

/** Has the client sent the whole body (it may still sit unread in the request's buffer)? */
function sourceEnded(req: IncomingMessage | Http2ServerRequest): boolean {
  return 'stream' in req ? req.stream.readableEnded : req.complete;
}

/** HTTP/1.1 announces a body with content-length or transfer-encoding; HTTP/2 by not ending the stream. */
export function hasBody(req: IncomingMessage | Http2ServerRequest): boolean {
  if ('stream' in req) return !req.stream.endAfterHeaders;
  const te = req.headers['transfer-encoding'];
  const len = req.headers['content-length'];
  return te !== undefined || (len !== undefined && len !== '0');
}
