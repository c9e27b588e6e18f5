import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileTokenSource } from './token-source.js';
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
