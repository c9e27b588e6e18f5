import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { httpDate, isoTime } from './time.js';

test('isoTime and httpDate write what toISOString and toUTCString write', () => {
  const samples = [0, 1, 999, 1000, Date.UTC(2024, 1, 29, 23, 59, 59, 7), Date.UTC(1000, 0, 1), Date.now()];
  // Every few days across 1970–2100, at odd hours, minutes and milliseconds.
  for (let t = 0; t < Date.UTC(2100, 0, 1); t += 3 * 86_400_000 + 3_723_457) samples.push(t);
  // Outside 1000–9999 the built-ins answer.
  samples.push(Date.UTC(999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), -1, -8.64e15, 8.64e15);
  for (const t of samples) {
    assert.equal(isoTime(t), new Date(t).toISOString(), String(t));
    assert.equal(httpDate(t), new Date(t).toUTCString(), String(t));
  }
});

test('neither maps the memory that the built-in date formatting does', () => {
  // Each in a fresh process: RSS before and after the first call (the built-in costs ~0.8 MB).
  const module = fileURLToPath(new URL('./time.js', import.meta.url));
  const growth = (call: string) =>
    Number(
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { isoTime, httpDate } from ${JSON.stringify(module)};
           const rss = () => process.memoryUsage.rss();
           const now = Date.now(); isoTime(now - 1); httpDate(now - 1);
           const a = rss(); ${call}; console.log(rss() - a);`,
        ],
        { encoding: 'utf8' },
      ),
    );
  const ours = growth('isoTime(now); httpDate(now)');
  const builtIn = growth('new Date(now).toISOString(); new Date(now).toUTCString()');
  assert.ok(builtIn > 400 * 1024, `the built-ins grew RSS by only ${builtIn} bytes: the premise is gone`);
  assert.ok(ours < builtIn / 4, `ours ${ours} bytes, built-ins ${builtIn}`);
});
