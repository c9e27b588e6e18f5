// Request bodies kept for retries and mirrors: up to `limit` bytes are buffered so the request can be
// sent again; a larger body is streamed through once and makes the request non-retriable (Envoy's
// per-request buffer limit does the same).
import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';

export const RETRY_BUFFER_LIMIT = 64 * 1024;

export class RequestBody {
  private chunks: Buffer[] = [];
  /** bytes read so far (the whole body once the request ended) */
  size = 0;
  /** true once the whole body is in memory (replayable) */
  complete = false;
  /** true once the body outgrew the buffer: it can be sent once, as a stream */
  overflowed = false;
  private consumed = false;

  private constructor(private readonly req: IncomingMessage) {}

  /** Calls back when the body is fully buffered, or as soon as it is known to be too large. */
  static read(req: IncomingMessage, limit: number, done: (b: RequestBody) => void): void {
    const b = new RequestBody(req);
    const te = req.headers['transfer-encoding'];
    const len = req.headers['content-length'];
    if (!te && (len === undefined || len === '0')) {
      b.complete = true; // no body: the common case, nothing to wait for
      req.resume();
      return done(b);
    }
    const onData = (c: Buffer) => {
      b.chunks.push(c);
      b.size += c.length;
      if (b.size > limit) {
        b.overflowed = true;
        req.pause();
        req.off('data', onData);
        req.off('end', onEnd);
        done(b);
      }
    };
    const onEnd = () => {
      b.complete = true;
      done(b);
    };
    req.on('data', onData);
    req.on('end', onEnd);
  }

  get replayable(): boolean {
    return this.complete;
  }

  get buffered(): Buffer | undefined {
    if (!this.complete) return undefined;
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
  }

  /** Write the body to an upstream request: from memory, or (once only) memory then the live stream. */
  sendTo(out: Writable & { end(chunk?: Buffer): unknown }): void {
    if (this.complete) {
      const buf = this.buffered;
      out.end(buf && buf.length ? buf : undefined);
      return;
    }
    if (this.consumed) throw new Error('a streamed request body cannot be sent twice');
    this.consumed = true;
    for (const c of this.chunks) out.write(c);
    this.chunks = [];
    this.req.on('data', (c: Buffer) => (this.size += c.length));
    this.req.pipe(out);
    this.req.resume();
  }
}
