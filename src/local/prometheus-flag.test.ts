import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prometheusUrl } from './prometheus-flag.js';
import { isWeftError } from '../lib/errors.js';

test('--prometheus-url wins over WEFT_PROMETHEUS_URL; empty means the proxies; a bad URL is refused', () => {
  assert.equal(prometheusUrl('http://flag:9090', 'http://env:9090'), 'http://flag:9090');
  assert.equal(prometheusUrl(undefined, 'http://env:9090'), 'http://env:9090');
  assert.equal(prometheusUrl('', 'http://env:9090'), undefined);
  assert.equal(prometheusUrl(undefined, undefined), undefined);
  assert.throws(
    () => prometheusUrl('localhost:9090', undefined),
    (e) => isWeftError(e) && /--prometheus-url: not an http\(s\) URL/.test(e.message) && !!e.hint,
  );
  assert.throws(() => prometheusUrl(undefined, 'nope'), /WEFT_PROMETHEUS_URL: not an http\(s\) URL: nope/);
});
