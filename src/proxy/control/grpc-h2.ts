// The push protocol's gRPC client on node:http2 directly. The protocol is two JSON-encoded methods on one
// TLS connection (model/discovery.ts), and @grpc/grpc-js (65 modules, with its channel machinery) cost
// every proxy ~4 MB of memory for them; the control plane keeps grpc-js on its side.
// Wire format: HTTP/2 POST to the method path, each message framed as 1 byte "compressed" (always 0
// here) + 4 bytes big-endian length + payload; the status comes in trailers (grpc-status, grpc-message).
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';

/** The gRPC status codes the proxy acts on (the rest are reported by number). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  PERMISSION_DENIED: 7,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

/** A call that ended with a non-OK status. The message reads like grpc-js's ("7 PERMISSION_DENIED: …"). */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${STATUS_NAMES[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

export interface ChannelTls {
  ca: string; // PEM roots that may sign the server's certificate
  servername: string; // the name the server's certificate must carry (not the address dialled)
  key?: string; // client certificate, when the call is made over mTLS
  cert?: string;
}

/** One call's messages: 'message' for each one received, then exactly one of 'end' (status OK) or 'error'. */
export class GrpcCall<Req, Res> extends EventEmitter<{ message: [Res]; end: []; error: [GrpcError] }> {
  private done = false;
  private status: number | undefined;
  private statusMessage = '';
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly stream: http2.ClientHttp2Stream) {
    super();
    const readStatus = (h: http2.IncomingHttpHeaders) => {
      const s = h['grpc-status'];
      if (s === undefined) return;
      this.status = Number(s);
      const m = h['grpc-message'];
      if (typeof m === 'string') this.statusMessage = safeDecode(m);
    };
    let httpStatus = 0;
    stream.on('response', (h) => {
      httpStatus = Number(h[':status']);
      readStatus(h); // trailers-only answer
    });
    stream.on('trailers', readStatus);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    // The server's side is done (its status came in the trailers): close ours too, or the stream stays
    // half-open and holds the connection (a control plane shutting down waits for it).
    stream.on('end', () => {
      if (!stream.closed) stream.close();
    });
    let streamError: Error | undefined;
    stream.on('error', (e: Error) => (streamError = e));
    stream.on('close', () => {
      if (this.status === GrpcStatus.OK) return this.finish();
      if (this.status !== undefined) return this.finish(new GrpcError(this.status, this.statusMessage));
      const why = streamError?.message ?? (httpStatus && httpStatus !== 200 ? `HTTP ${httpStatus}` : '');
      this.finish(new GrpcError(GrpcStatus.UNAVAILABLE, why || 'stream closed without a status'));
    });
  }

  write(msg: Req): void {
    if (this.done || this.stream.closed) return;
    const body = Buffer.from(JSON.stringify(msg));
    const head = Buffer.allocUnsafe(5);
    head[0] = 0;
    head.writeUInt32BE(body.length, 1);
    this.stream.write(Buffer.concat([head, body]));
  }

  /** Half-close: no more messages from us. */
  end(): void {
    if (!this.stream.closed) this.stream.end();
  }

  /** Abandon the call (RST_STREAM CANCEL); reports nothing more. */
  cancel(): void {
    this.done = true;
    if (!this.stream.closed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= 5) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < 5 + len) return;
      if (this.pending[0] !== 0) {
        // We never offer compression (grpc-accept-encoding: identity), so a compressed message is a bug.
        this.status = GrpcStatus.INTERNAL;
        this.statusMessage = 'compressed message received';
        this.stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      const body = this.pending.subarray(5, 5 + len);
      this.pending = this.pending.subarray(5 + len);
      let msg: Res;
      try {
        msg = JSON.parse(body.toString('utf8')) as Res;
      } catch (e) {
        this.status = GrpcStatus.INTERNAL;
        this.statusMessage = `response message not JSON: ${(e as Error).message}`;
        this.stream.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      if (!this.done) this.emit('message', msg);
    }
  }

  private finish(err?: GrpcError): void {
    if (this.done) return;
    this.done = true;
    if (err) this.emit('error', err);
    else this.emit('end');
  }
}

/** One HTTP/2 connection over TLS to the control plane; calls are streams on it. */
export class GrpcChannel {
  private readonly session: http2.ClientHttp2Session;

  constructor(address: string, tls: ChannelTls) {
    this.session = http2.connect(`https://${address}`, {
      ca: tls.ca,
      servername: tls.servername,
      ...(tls.key && tls.cert ? { key: tls.key, cert: tls.cert } : {}),
    });
    // Connection errors reach every call through its stream ('close' without a status).
    this.session.on('error', () => {});
  }

  call<Req, Res>(path: string, authority: string): GrpcCall<Req, Res> {
    const stream = this.session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
    });
    return new GrpcCall<Req, Res>(stream);
  }

  /** One request, one response. */
  unary<Req, Res>(path: string, authority: string, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => {
      const c = this.call<Req, Res>(path, authority);
      let res: Res | undefined;
      c.on('message', (m) => (res ??= m));
      c.on('end', () => (res === undefined ? reject(new Error('empty response')) : resolve(res)));
      c.on('error', reject);
      c.write(req);
      c.end();
    });
  }

  close(): void {
    if (!this.session.destroyed) this.session.destroy();
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
