// Node's own HTTP/1.1 parser (llhttp, compiled into node) as node:http uses it, without the layers
// node:http and undici build around it. `consume()` hands a socket's reads to the parser inside
// node, so answer bytes never surface as JS 'data' events: JS runs once per head, body chunk and end.
//
// Why this and not undici (measured 2026-12-07, bench/README.md): the HTTP/1.1 client alone, in one
// process against nginx, 32 requests in flight, cost 19.6 µs of CPU per request on undici's
// Pool.dispatch and 14.9 µs on these callbacks (medians of 8 alternations), and what remains is mostly
// the write syscall. undici runs llhttp as WebAssembly with a JS callback per header name and value,
// builds a Request object per call and checks every header against its own tables. Minimal one-hop
// proxies on one core (wrk -c32, 1 KB): node:http server + undici 14–31k req/s, node:http server + these
// callbacks 24–28k, raw sockets and llhttp both ways 34–50k (the box is noisy; same minutes each).
//
// `_http_common` is not a documented module, but node:http itself is built on it and it has kept this
// shape since Node 12; the check below turns a future change into a clear startup error.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The native parser's callbacks are indexed properties; `this` is the parser. */
export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  consume(handle: unknown): void;
  unconsume(): void;
  /** End of input: completes a body that runs until the connection closes; an error if incomplete. */
  finish(): Error | undefined;
  close(): void;
  free(): void;
  remove(): void;
  [callback: number]: unknown;
}

interface ParserClass {
  new (): NativeParser;
  REQUEST: number;
  RESPONSE: number;
  kOnMessageBegin: number;
  kOnHeaders: number;
  kOnHeadersComplete: number;
  kOnBody: number;
  kOnMessageComplete: number;
  kOnExecute: number;
}

const common = require('_http_common') as {
  HTTPParser: ParserClass;
  _checkIsHttpToken: (s: string) => boolean;
  _checkInvalidHeaderChar: (s: string) => boolean;
};

export const HTTPParser = common.HTTPParser;
if (typeof HTTPParser?.prototype?.consume !== 'function' || typeof HTTPParser.kOnBody !== 'number')
  throw new Error(`this Node.js (${process.version}) has no usable HTTP parser binding (_http_common)`);

const checkToken = common._checkIsHttpToken;
/** Header names (and methods) found to be tokens, up to VALID_TOKENS_MAX: a request's few dozen names
 *  repeat on every request, and a hit costs a hash lookup instead of a regex run. A name is only ever
 *  added after passing the check, so a hit is as good as the check; names past the limit (a client
 *  inventing names) are checked every time, as before. Measured: 2.0k of ~90k user-space instructions
 *  per request through one proxy (bench:instructions), all of name checking. */
const validTokens = new Set<string>();
const VALID_TOKENS_MAX = 256;

/** RFC 9110 token: what a header name may be. */
export function isToken(s: string): boolean {
  if (validTokens.has(s)) return true;
  if (!checkToken(s)) return false;
  if (validTokens.size < VALID_TOKENS_MAX) validTokens.add(s);
  return true;
}
/** A header value with CR, LF, NUL or other bytes no header may carry (header injection). */
export const hasInvalidChar = common._checkInvalidHeaderChar;

/**
 * Whether a header value may be written: one of the values a strict parse of the message gave (`parsed`:
 * its header lines, name, value, name, value...) passed llhttp's own check, which refuses exactly what
 * hasInvalidChar finds (llhttp.test.ts holds the two to it), so it is not checked again; any other value
 * is. The lines are the parser's own array, never written to, and strings cannot change: a value a
 * filter put in a header object (a JWT claim, an ext-authz header) is never among them unless it is the
 * same text. Measured: ~2.5k of ~88k user-space instructions per request through one proxy went to
 * checking values again that the parser had just checked. The lines are searched only for messages of
 * up to PARSED_SCAN_MAX headers: a search per value would otherwise grow with the square of a hostile
 * client's thousands of tiny headers, where the check grows with their length.
 */
export function validValue(v: string, parsed: readonly string[] | undefined): boolean {
  if (parsed !== undefined && parsed.length <= 2 * PARSED_SCAN_MAX)
    for (let i = 1; i < parsed.length; i += 2) if (parsed[i] === v) return true;
  return !hasInvalidChar(v);
}

const PARSED_SCAN_MAX = 40;

/** A parser callback: a shared function, called with the parser as `this`. */
type Callback = (this: never, ...args: never[]) => unknown;

export interface ParserCallbacks {
  messageBegin?: Callback;
  headers: Callback;
  headersComplete: Callback;
  body: Callback;
  messageComplete: Callback;
  execute: Callback;
}

/** A strict parser (no lenient flags; maxHeaderSize 0 is node's own limit, 16 KiB by default). */
export function newParser(type: number, cb: ParserCallbacks): NativeParser {
  const p = new HTTPParser();
  p.initialize(type, {}, 0, 0);
  // Set even when unused: node reads each callback's slot per message, and a missing one is looked up
  // along the prototype chain as well.
  p[HTTPParser.kOnMessageBegin] = cb.messageBegin ?? null;
  p[HTTPParser.kOnHeaders] = cb.headers;
  p[HTTPParser.kOnHeadersComplete] = cb.headersComplete;
  p[HTTPParser.kOnBody] = cb.body;
  p[HTTPParser.kOnMessageComplete] = cb.messageComplete;
  p[HTTPParser.kOnExecute] = cb.execute;
  return p;
}

// Header names in lower case, as the proxy keys them. The parser hands each name over as sent; most
// peers send the same few capitalised ones ("Content-Type") on every message, and lower-casing each
// made a new string per header per message. Names already in lower case are remembered too: the
// lookup hashes the name, which keying a header object by it needs anyway, and spares toLowerCase's
// scan (callgrind: ~200 instructions per name).
const LOWER = new Map<string, string>();
const MAX_NAMES = 512;

export function lowerName(raw: string): string {
  let k = LOWER.get(raw);
  if (k === undefined) {
    k = raw.toLowerCase();
    if (LOWER.size >= MAX_NAMES) LOWER.clear(); // a peer inventing names cannot grow it
    LOWER.set(raw, k);
  }
  return k;
}

/**
 * Header names of one connection's messages in lower case. A peer sends the same names in the same
 * order on every message, so a name is first compared with the one at its place in the previous
 * message (a plain string comparison), and only otherwise looked up by lowerName, whose Map must hash
 * each new string the parser made. Measured (callgrind, five names per message): ~3.9k → ~2.6k
 * instructions to build a header object.
 */
export class HeaderNames {
  private readonly raw: string[] = [];
  private readonly lower: string[] = [];

  /** The lower-case name of the `i`th header line of a message. */
  get(i: number, name: string): string {
    if (this.raw[i] === name) return this.lower[i]!;
    const k = lowerName(name);
    if (i <= this.raw.length && i < MAX_PLACES) {
      this.raw[i] = name;
      this.lower[i] = k;
    }
    return k;
  }
}

/** Places remembered per connection: more headers than this are looked up by lowerName alone. */
const MAX_PLACES = 64;
