// fromH2: an HTTP/2 answer is passed on as complete only when its stream really ended (END_STREAM with
// the declared length), never when the peer reset it with NO_ERROR or the session went away mid-body.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { fromH2, watchEnd } from './response.js';

let server: http2.Http2Server;
let client: http2.ClientHttp2Session;

before(async () => {
  server = http2.createServer();
  server.on('stream', (st, h) => {
    const path = String(h[':path']);
    const sized = path.includes('sized');
    st.respond({ ':status': 200, ...(sized ? { 'content-length': '10' } : {}) });
    if (path.startsWith('/big')) return void st.end(Buffer.alloc(256 * 1024, 'x'));
    if (path.startsWith('/whole') || h[':method'] === 'HEAD')
      return void st.end(h[':method'] === 'HEAD' ? undefined : '0123456789');
    st.write('01234');
    // destroy() without an error sends RST_STREAM(NO_ERROR); Node's client reads it as the end.
    setTimeout(() => (path.startsWith('/session') ? st.session?.destroy() : st.destroy()), 20);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});

after(() => {
  client?.destroy();
  server.close();
});

async function pass(path: string, method = 'GET'): Promise<{ outcome: string; body: string }> {
  if (!client || client.destroyed) {
    client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    client.on('error', () => {});
  }
  const stream = client.request({ ':path': path, ':method': method }, { endStream: true });
  watchEnd(stream);
  stream.on('error', () => {});
  const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((r) =>
    stream.once('response', (h, f) => r([h, f])),
  );
  const sink = new PassThrough();
  let body = '';
  sink.on('data', (c: Buffer) => (body += c.toString()));
  const outcome = await new Promise<string>((resolve) =>
    fromH2(stream, headers, flags, method).pipeTo(sink, {
      end: () => resolve('end'),
      error: () => resolve('error'),
    }),
  );
  return { outcome, body };
}

test('a complete body ends, with or without a content-length; HEAD ends with none', async () => {
  assert.deepEqual(await pass('/whole'), { outcome: 'end', body: '0123456789' });
  assert.deepEqual(await pass('/whole-sized'), { outcome: 'end', body: '0123456789' });
  assert.deepEqual(await pass('/whole-sized', 'HEAD'), { outcome: 'end', body: '' });
});

test('a body cut short by a NO_ERROR reset fails, with or without a content-length', async () => {
  assert.equal((await pass('/cut')).outcome, 'error');
  assert.equal((await pass('/cut-sized')).outcome, 'error');
});

test('a body cut short by the session going away fails', async () => {
  assert.equal((await pass('/session')).outcome, 'error');
});

test('a slow sink holds the body back (backpressure) and still gets all of it, then the end', async () => {
  if (!client || client.destroyed)
    client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const stream = client.request({ ':path': '/big' }, { endStream: true });
  watchEnd(stream);
  const [headers, flags] = await new Promise<[http2.IncomingHttpHeaders, number]>((r) =>
    stream.once('response', (h, f) => r([h, f])),
  );
  let bytes = 0;
  let full = 0;
  const sink = new Writable({
    highWaterMark: 1024,
    write(c: Buffer, _e, cb) {
      bytes += c.length;
      setTimeout(cb, 1);
    },
  });
  const write = sink.write.bind(sink);
  sink.write = (c: Buffer) => {
    const ok = write(c);
    if (!ok) full++;
    return ok;
  };
  let counted = 0;
  const outcome = await new Promise<string>((resolve) =>
    fromH2(stream, headers, flags, 'GET').pipeTo(sink, {
      data: (n) => (counted += n),
      end: () => resolve('end'),
      error: () => resolve('error'),
    }),
  );
  assert.equal(outcome, 'end');
  assert.equal(counted, 256 * 1024);
  assert.ok(full > 0, 'the sink filled up');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(bytes, 256 * 1024);
});
