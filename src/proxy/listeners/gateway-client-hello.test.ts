// The ClientHello reader on real ClientHellos from Node's TLS client: SNI and ALPN, no SNI, bytes that
// arrive one at a time, records that are not TLS; and Envoy's server-name match order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { matchSni, parseClientHello, peekClientHello } from './gateway-client-hello.js';

/** The first bytes a TLS client sends, captured by a TCP server that never answers. */
async function clientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const got = new Promise<Buffer>((resolve) =>
    server.once('connection', (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (parseClientHello(all).done) {
          resolve(all);
          s.destroy();
        }
      });
    }),
  );
  const c = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', ...opts });
  c.on('error', () => {});
  const bytes = await got;
  c.destroy();
  server.close();
  return bytes;
}

test('SNI (lower-case) and ALPN from a real ClientHello, whole or a byte at a time', async () => {
  const bytes = await clientHello({ servername: 'Bookinfo.Example.COM', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.deepEqual(parseClientHello(bytes), {
    done: true,
    hello: { sni: 'bookinfo.example.com', alpn: ['h2', 'http/1.1'] },
  });
  for (let i = 1; i < bytes.length; i++)
    assert.deepEqual(parseClientHello(bytes.subarray(0, i)), { done: false });
});

test('no SNI when the client dials an address', async () => {
  const bytes = await clientHello({ rejectUnauthorized: false });
  const r = parseClientHello(bytes);
  assert.ok(r.done && 'hello' in r);
  assert.equal(r.hello.sni, undefined);
});

test('a ClientHello split over several TLS records is put back together', async () => {
  const bytes = await clientHello({ servername: 'a.example.com' });
  const body = bytes.subarray(5);
  const split = 40;
  const rec = (b: Buffer) =>
    Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  const two = Buffer.concat([rec(body.subarray(0, split)), rec(body.subarray(split))]);
  const r = parseClientHello(two);
  assert.ok(r.done && 'hello' in r);
  assert.equal(r.hello.sni, 'a.example.com');
});

test('what is not a ClientHello is told at once', () => {
  assert.deepEqual(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')), {
    done: true,
    error: 'not a TLS handshake',
  });
  assert.deepEqual(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0])), {
    done: true,
    error: 'the first handshake message is not a ClientHello',
  });
  const truncated = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x06, 0x01, 0x00, 0x00, 0x02, 0x03, 0x03]);
  const r = parseClientHello(truncated);
  assert.ok(r.done && 'error' in r && /malformed ClientHello/.test(r.error));
});

test('peekClientHello puts every byte back for the next owner', async () => {
  const bytes = await clientHello({ servername: 'x.example.com' });
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const result = new Promise<{ sni: string | undefined; rest: Buffer }>((resolve) =>
    server.once('connection', async (s) => {
      const r = await peekClientHello(s, 5000);
      assert.ok('hello' in r);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => resolve({ sni: r.hello.sni, rest: Buffer.concat(chunks) }));
      s.resume();
    }),
  );
  const c = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => {
    // Two writes, the second after a pause: the reader waits for the whole hello.
    c.write(bytes.subarray(0, 10));
    setTimeout(() => c.end(Buffer.concat([bytes.subarray(10), Buffer.from('tail')])), 50);
  });
  const { sni, rest } = await result;
  server.close();
  assert.equal(sni, 'x.example.com');
  assert.deepEqual(rest, Buffer.concat([bytes, Buffer.from('tail')]));
});

test("server names match as Envoy's: exact, longest wildcard, then the server without names", () => {
  const servers = [
    { id: 'any', sniHosts: [] },
    { id: 'wide', sniHosts: ['*.example.com'] },
    { id: 'narrow', sniHosts: ['*.shop.example.com'] },
    { id: 'exact', sniHosts: ['www.shop.example.com', 'b.example.org'] },
  ];
  const pick = (sni: string | undefined) => matchSni(servers, sni)?.id;
  assert.equal(pick('www.shop.example.com'), 'exact');
  assert.equal(pick('b.example.org'), 'exact');
  assert.equal(pick('api.shop.example.com'), 'narrow');
  assert.equal(pick('a.b.example.com'), 'wide');
  assert.equal(pick('example.com'), 'any');
  assert.equal(pick(undefined), 'any');
  assert.equal(matchSni(servers.slice(1), 'other.org'), undefined);
  assert.equal(matchSni(servers.slice(1), undefined), undefined);
});
