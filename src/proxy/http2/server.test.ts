// The HTTP/2 server side against node:http2's client over a real socket: bodies both ways, trailers,
// what the compatibility layer did for us (CONNECT, Expect, connection headers), and the windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from '../http1/server.js';
import { createH2cServer } from './server.js';
import { STREAM_WINDOW } from '../transport/h2-sessions.js';

async function serve(handler: RequestHandler, wide = true) {
  const server = createH2cServer(handler, wide);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return {
    client,
    close: () => {
      client.close();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

interface Answer {
  headers: http2.IncomingHttpHeaders;
  body: string;
  trailers: http2.IncomingHttpHeaders;
}

function call(
  client: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const s = client.request(headers, { endStream: body === undefined });
    let h: http2.IncomingHttpHeaders = {};
    let text = '';
    let trailers: http2.IncomingHttpHeaders = {};
    s.on('response', (r) => (h = r));
    s.on('trailers', (t) => (trailers = t));
    s.setEncoding('utf8');
    s.on('data', (c: string) => (text += c));
    s.on('end', () => resolve({ headers: h, body: text, trailers }));
    s.on('error', reject);
    if (body !== undefined) s.end(body);
  });
}

test('a request body streams in, the answer streams out with its trailers', async () => {
  const s = await serve((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/grpc', connection: 'keep-alive', 'keep-alive': 'x' });
      res.write(`${req.method} ${req.url} ${req.httpVersion} `);
      res.addTrailers({ 'grpc-status': '0' });
      res.end(Buffer.concat(parts));
    });
  });
  try {
    const a = await call(s.client, { ':method': 'POST', ':path': '/pkg.Svc/Call' }, 'payload');
    assert.equal(a.headers[':status'], 200);
    assert.equal(a.headers.connection, undefined);
    assert.equal(a.headers['keep-alive'], undefined);
    assert.equal(a.body, 'POST /pkg.Svc/Call 2.0 payload');
    assert.equal(a.trailers['grpc-status'], '0');
  } finally {
    await s.close();
  }
});

test('an answer ended without a body ends the stream with its headers; setHeader headers go out', async () => {
  const s = await serve((_req, res) => {
    res.setHeader('x-set', 'yes');
    res.statusCode = 204;
    res.end();
  });
  try {
    const a = await call(s.client, { ':path': '/' });
    assert.equal(a.headers[':status'], 204);
    assert.equal(a.headers['x-set'], 'yes');
    assert.equal(a.body, '');
  } finally {
    await s.close();
  }
});

test('CONNECT is refused with 405, an unknown expectation with 417, and the windows are opened', async () => {
  let handled = 0;
  const s = await serve((_req, res) => {
    handled++;
    res.end('x');
  });
  try {
    const c = await call(s.client, { ':method': 'CONNECT', ':authority': 'db:5432' });
    assert.equal(c.headers[':status'], 405);
    const e = await call(s.client, { ':path': '/', expect: 'something' });
    assert.equal(e.headers[':status'], 417);
    assert.equal(handled, 0);
    assert.equal(s.client.remoteSettings.initialWindowSize, STREAM_WINDOW);
  } finally {
    await s.close();
  }
  // A gateway's server keeps Node's windows.
  const g = await serve(() => {}, false);
  try {
    await new Promise((r) => g.client.once('remoteSettings', r));
    assert.equal(g.client.remoteSettings.initialWindowSize, 65_535);
  } finally {
    await g.close();
  }
});

test('a client reset mid-body closes the response unfinished without an unhandled error', async () => {
  let resolve!: (v: string) => void;
  const seen = new Promise<string>((r) => (resolve = r));
  const s = await serve((req, res) => {
    req.on('data', () => {});
    res.on('close', () => resolve(`closed destroyed=${res.destroyed} ended=${res.writableEnded}`));
  });
  try {
    const st = s.client.request({ ':method': 'POST', ':path': '/' });
    st.write('part');
    setTimeout(() => st.close(http2.constants.NGHTTP2_CANCEL), 50);
    assert.equal(await seen, 'closed destroyed=true ended=false');
  } finally {
    await s.close();
  }
});
