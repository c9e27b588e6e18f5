// peekBody through real sockets (HTTP/1.1 and h2c): the check gets the first bytes, and whatever reads
// the body afterwards (RequestBody, as forward() does) still gets every byte, in order, and its end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { peekBody, RequestBody, type PeekedBody } from './body.js';

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;

/** Peeks `max` bytes, then streams the rest the way forward() does; answers with what both saw. */
const handler = (max: number) => (req: Req, res: Res) => {
  void peekBody(req, max).then((p: PeekedBody | undefined) => {
    // A check takes a moment: the body must wait for its reader, not be lost in between.
    setTimeout(() => {
      const body = RequestBody.start(req, 0);
      const hash = createHash('sha256');
      let size = 0;
      const sink = new Writable({
        write(c: Buffer, _e, cb) {
          hash.update(c);
          size += c.length;
          cb();
        },
      });
      sink.on('finish', () =>
        res.end(
          JSON.stringify({
            peeked: p === undefined ? null : p.data.toString('latin1'),
            partial: p?.partial ?? null,
            size,
            sha: hash.digest('hex'),
          }),
        ),
      );
      body.sendTo(sink);
    }, 20);
  });
};

let h1: http.Server;
let h2: http2.Http2Server;
const MAX = 10;

before(async () => {
  h1 = http.createServer(handler(MAX));
  h2 = http2.createServer(handler(MAX));
  await Promise.all([
    new Promise<void>((r) => h1.listen(0, '127.0.0.1', r)),
    new Promise<void>((r) => h2.listen(0, '127.0.0.1', r)),
  ]);
});

after(() => {
  h1.closeAllConnections();
  h1.close();
  h2.close();
});

interface Seen {
  peeked: string | null;
  partial: boolean | null;
  size: number;
  sha: string;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** One request over HTTP/1.1, its body written in `parts` with a pause between them. */
async function viaH1(parts: Buffer[], headers: http.OutgoingHttpHeaders = {}): Promise<Seen> {
  const port = (h1.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(JSON.parse(text) as Seen));
    });
    req.on('error', reject);
    let i = 0;
    const next = () => {
      if (i === parts.length) return void req.end();
      req.write(parts[i++]);
      setTimeout(next, 10);
    };
    next();
  });
}

async function viaH2(body: Buffer | undefined): Promise<Seen> {
  const port = (h2.address() as AddressInfo).port;
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    return await new Promise<Seen>((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': '/' }, { endStream: body === undefined });
      let text = '';
      s.on('data', (c: Buffer) => (text += c.toString()));
      s.on('end', () => resolve(JSON.parse(text) as Seen));
      s.on('error', reject);
      if (body) s.end(body);
    });
  } finally {
    session.close();
  }
}

test('a body shorter than max: all of it, not partial, and the reader gets it whole', async () => {
  const r = await viaH1([Buffer.from('hello')], { 'content-length': 5 });
  assert.deepEqual(r, { peeked: 'hello', partial: false, size: 5, sha: sha(Buffer.from('hello')) });
});

test('a body of exactly max bytes is not partial, even when it comes in pieces (chunked)', async () => {
  const r = await viaH1([Buffer.from('01234'), Buffer.from('56789')]);
  assert.equal(r.peeked, '0123456789');
  assert.equal(r.partial, false);
  assert.equal(r.size, 10);
});

test('a longer body: the first max bytes, partial; the reader still gets every byte in order', async () => {
  const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(7_000, i));
  const whole = Buffer.concat(parts);
  const r = await viaH1(parts);
  assert.equal(r.peeked, whole.subarray(0, MAX).toString('latin1'));
  assert.equal(r.partial, true);
  assert.equal(r.size, whole.length);
  assert.equal(r.sha, sha(whole));
});

test('an empty chunked body: an empty peek, and the reader still sees the end', async () => {
  const r = await viaH1([], { 'transfer-encoding': 'chunked' });
  assert.deepEqual([r.peeked, r.partial, r.size], ['', false, 0]);
});

test('h2: no body (END_STREAM with the headers) is undefined; a long body is cut and still reaches the reader', async () => {
  const none = await viaH2(undefined);
  assert.deepEqual([none.peeked, none.partial, none.size], [null, null, 0]);
  const whole = Buffer.alloc(100_000, 7);
  const long = await viaH2(whole);
  assert.equal(long.partial, true);
  assert.equal(long.peeked?.length, MAX);
  assert.equal(long.sha, sha(whole));
  const short = await viaH2(Buffer.from('abc'));
  assert.deepEqual([short.peeked, short.partial, short.size], ['abc', false, 3]);
});

test('a client that leaves mid-body rejects the peek', async () => {
  let rejected: Promise<unknown> | undefined;
  const server = http.createServer((req) => {
    rejected = peekBody(req, 1_000_000).then(
      () => 'resolved',
      (e: Error) => e.message,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const s = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc');
  await new Promise((r) => setTimeout(r, 50));
  s.destroy();
  await new Promise((r) => setTimeout(r, 50));
  assert.match(String(await rejected), /went away/);
  server.close();
});
