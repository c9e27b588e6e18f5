// HTTP/2 clients (h2c, prior knowledge) through sidecar -> mTLS -> sidecar to an HTTP/1.1 app, with
// HTTP/2 between the proxies (the default) and with WEFT_MESH_H2C_UPSTREAM=h1 (HTTP/1.1 pool first,
// past 32 at once per peer overflowing onto the session): answers that carry HTTP/1.1-only headers
// arrive whole on many concurrent streams, and a body the app cuts short is reset to the client instead
// of being ended as if it were complete.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { freePort } from '../src/local/ports.js';
import { clientYaml, workloadYaml } from './support/mesh-yaml.js';

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** How the stream ended: 'end' (END_STREAM) or the error code it was reset with. */
  ended: string;
}

function request(
  session: http2.ClientHttp2Session,
  path: string,
  o: { method?: string; body?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve) => {
    const s = session.request({ ':path': path, ':method': o.method ?? 'GET', ':authority': 'h2c-app:8080' });
    const chunks: Buffer[] = [];
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let ended = '';
    s.on('response', (h) => {
      headers = h;
      status = Number(h[':status']);
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => (ended ||= 'end'));
    s.on('error', (e: NodeJS.ErrnoException) => (ended ||= e.code ?? 'error'));
    s.on('close', () => resolve({ status, headers, body: Buffer.concat(chunks), ended: ended || 'closed' }));
    s.end(o.body);
  });
}

for (const h1 of [false, true])
  describe(
    `h2c clients to an HTTP/1.1 service, ${h1 ? 'WEFT_MESH_H2C_UPSTREAM=h1' : 'HTTP/2 between the proxies'}`,
    { timeout: 180_000 },
    () => {
      let mesh: RunningMesh;
      let outbound: number;
      let session: http2.ClientHttp2Session;

      before(async () => {
        const dir = await tempDir();
        outbound = await freePort();
        const file = join(dir, 'mesh.yaml');
        await writeFile(
          file,
          `${workloadYaml('h2c-app', 8080, ['node', 'dist/test/support/h2c-app.js'])}
${clientYaml(outbound)}
`,
        );
        // The proxies inherit the environment of `weft up`.
        if (h1) process.env.WEFT_MESH_H2C_UPSTREAM = 'h1';
        try {
          mesh = await RunningMesh.up([file]);
        } finally {
          delete process.env.WEFT_MESH_H2C_UPSTREAM;
        }
        await waitFor('h2c-app reachable through the client sidecar', async () => {
          const status = await new Promise<number>((resolve) => {
            const req = http.get(
              {
                host: '127.0.0.1',
                port: outbound,
                path: '/hop',
                headers: { host: 'h2c-app:8080' },
                agent: false,
              },
              (r) => {
                r.resume();
                resolve(r.statusCode ?? 0);
              },
            );
            req.on('error', () => resolve(0));
          });
          return status === 200;
        });
        session = http2.connect(`http://127.0.0.1:${outbound}`, { peerMaxConcurrentStreams: 1000 });
        session.on('error', () => {});
      });

      after(async () => {
        session?.destroy();
        await mesh?.stop();
      });

      test('hundreds of concurrent streams, answers with connection headers and chunking, arrive whole', async () => {
        const sizes = Array.from({ length: 400 }, (_, i) => 1 + ((i * 7919) % 40_000));
        const answers = await Promise.all(sizes.map((n) => request(session, `/hop?size=${n}`)));
        for (const [i, a] of answers.entries()) {
          assert.equal(a.ended, 'end', `stream ${i}`);
          assert.equal(a.status, 200);
          assert.equal(a.body.length, sizes[i]);
          for (const h of ['connection', 'keep-alive', 'transfer-encoding'])
            assert.equal(a.headers[h], undefined);
        }
        assert.equal(session.destroyed, false);
      });

      test('a body the app cuts short is reset to the client, never ended as complete', async () => {
        const chunked = await request(session, '/cut');
        assert.equal(chunked.status, 200);
        assert.notEqual(
          chunked.ended,
          'end',
          `got a clean end after ${JSON.stringify(String(chunked.body))}`,
        );
        const sized = await request(session, '/cut-length');
        assert.notEqual(sized.ended, 'end');
        // Only those streams failed: the session carries on.
        assert.equal((await request(session, '/hop?size=10')).ended, 'end');
      });

      test('request bodies and streamed answers', async () => {
        const body = Buffer.alloc(300_000, 'x');
        const a = await request(session, '/digest', { method: 'POST', body });
        assert.equal(a.status, 200);
        assert.deepEqual(JSON.parse(a.body.toString()), {
          length: body.length,
          sha256: createHash('sha256').update(body).digest('hex'),
        });
        const s = await request(session, '/stream');
        assert.equal(s.ended, 'end');
        assert.equal(s.body.toString(), [0, 1, 2, 3, 4].map((i) => `chunk ${i}\n`).join(''));
      });

      test(
        h1
          ? 'between the proxies: HTTP/1.1, up to 32 at once per peer, then HTTP/2'
          : 'between the proxies: HTTP/2',
        async () => {
          const logs = join(mesh.stateDir, 'logs');
          const file = (await readdir(logs)).find((f) => f.startsWith('h2c-app') && f.endsWith('.proxy.log'));
          assert.ok(file, 'the app proxy log');
          const text = await waitFor('the access log lines', async () => {
            const t = await readFile(join(logs, file), 'utf8');
            return t.includes('"POST /digest') && t.includes('"GET /stream') && t;
          });
          const count = (re: string) => text.match(new RegExp(re, 'g'))?.length ?? 0;
          const burst = (v: string) => count(`"GET /hop\\?size=\\d+ HTTP/${v}"`);
          assert.equal(burst('1\\.1') + burst('2\\.0'), 401); // the burst and the one after the cut bodies
          if (h1) {
            assert.equal(count('"POST /digest HTTP/1\\.1"'), 1);
            assert.equal(count('"GET /stream HTTP/1\\.1"'), 1);
            assert.ok(burst('1\\.1') >= 32, `${burst('1\\.1')} of the burst on HTTP/1.1`);
          } else {
            assert.equal(count('"POST /digest HTTP/2\\.0"'), 1);
            assert.equal(burst('2\\.0'), 401);
          }
        },
      );
    },
  );
