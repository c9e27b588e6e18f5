import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileTokenSource, TOKEN_FROM_PARENT_ENV } from './token-source.js';
import { ErrorCodes } from '../../lib/errors.js';

test('a token file is read again on each request; a token already used is refused with a next step', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-token-'));
  const file = join(dir, 'token');
  await writeFile(file, 'first\n');
  const next = fileTokenSource(file, 'first');
  await assert.rejects(next(), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, ErrorCodes.PROXY_CERT_UNRENEWABLE);
    assert.match(e.message, /was used already/);
    assert.match(e.hint ?? '', /write a new one there/);
    return true;
  });
  await writeFile(file, 'second\n');
  assert.equal(await next(), 'second');
  await assert.rejects(next(), /was used already/); // single use: the same one is not offered twice
  await writeFile(file, '');
  await assert.rejects(next(), /token file .* is empty/);
});

test('a token file that cannot be read says which and why', async () => {
  const next = fileTokenSource('/nonexistent/weft/token', undefined);
  await assert.rejects(next(), /cannot read the bootstrap token file \/nonexistent\/weft\/token: ENOENT/);
});

/** Runs parentTokenSource() in a child with an IPC channel; the test plays the parent. */
function child(env: Record<string, string>, answer?: (m: unknown) => unknown) {
  const url = new URL('./token-source.js', import.meta.url).href;
  const code = `import { parentTokenSource } from ${JSON.stringify(url)};
const source = parentTokenSource(2000);
if (!source) { console.log('no source'); process.exit(0); }
source().then((t) => console.log('token ' + t), (e) => console.log('error ' + e.message)).finally(() => process.exit(0));`;
  const c = spawn(process.execPath, ['--input-type=module', '-e', code], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  if (answer) c.on('message', (m) => c.send(answer(m) as object));
  let out = '';
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise<string>((resolve) => c.on('exit', () => resolve(out.trim())));
}

test('a proxy asks its parent for a token only when weft up started it, and says so when none comes', async () => {
  // A process manager with an IPC channel is not weft up: no token source at all.
  assert.equal(await child({ [TOKEN_FROM_PARENT_ENV]: '' }), 'no source');
  assert.equal(
    await child({ [TOKEN_FROM_PARENT_ENV]: '1' }, (m) =>
      (m as { type?: string }).type === 'token-request' ? { type: 'token', token: 'fresh' } : {},
    ),
    'token fresh',
  );
  assert.equal(
    await child({ [TOKEN_FROM_PARENT_ENV]: '1' }, () => ({ type: 'token', error: 'no such workload' })),
    'error weft up issued no bootstrap token: no such workload',
  );
  assert.match(
    await child({ [TOKEN_FROM_PARENT_ENV]: '1' }),
    /^error weft up did not answer .* within 2000 ms$/,
  );
});
