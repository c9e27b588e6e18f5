// The authorization matcher primitives: addresses and CIDRs (IPv4, IPv6, IPv4-mapped IPv6), Istio string
// patterns, and Envoy URI templates as Istio's {*} / {**} paths compile to them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cidrContains,
  compileGlob,
  compilePathTemplate,
  compileStringList,
  compileStringPattern,
  parseCidr,
  parseIp,
  type Cidr,
} from './match.js';

test('parseIp: IPv4, IPv6, brackets, zones, IPv4-mapped IPv6 folded to IPv4', () => {
  assert.deepEqual(parseIp('1.2.3.4'), { v6: false, n: 0x01020304 });
  assert.deepEqual(parseIp('255.255.255.255'), { v6: false, n: 0xffffffff });
  assert.deepEqual(parseIp('::1'), { v6: true, n: 1n });
  assert.deepEqual(parseIp('[::1]'), { v6: true, n: 1n });
  assert.deepEqual(parseIp('::'), { v6: true, n: 0n });
  assert.deepEqual(parseIp('fe80::1%eth0'), { v6: true, n: (0xfe80n << 112n) | 1n });
  assert.deepEqual(parseIp('2001:db8::8:800:200c:417a'), {
    v6: true,
    n: 0x20010db80000000000080800200c417an,
  });
  assert.deepEqual(parseIp('::ffff:10.1.2.3'), { v6: false, n: 0x0a010203 });
  assert.deepEqual(parseIp('::ffff:a01:203'), { v6: false, n: 0x0a010203 });
  assert.deepEqual(parseIp('1:2:3:4:5:6:7:8'), { v6: true, n: 0x00010002000300040005000600070008n });
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '1.2.3.256',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    'x',
  ]) {
    assert.equal(parseIp(bad), undefined, bad);
  }
  assert.equal(parseIp(undefined), undefined);
});

test('parseCidr: bare addresses are /32 and /128, bases are masked, mapped ranges become IPv4', () => {
  const c = (s: string) => parseCidr(s) as Cidr;
  assert.deepEqual(c('10.1.2.3/8'), { v6: false, prefix: 8, base: 0x0a000000, mask: 0xff000000 });
  assert.deepEqual(c('1.2.3.4'), { v6: false, prefix: 32, base: 0x01020304, mask: 0xffffffff });
  assert.deepEqual(c('0.0.0.0/0'), { v6: false, prefix: 0, base: 0, mask: 0 });
  assert.equal(c('2001:db8::/32').prefix, 32);
  assert.equal(c('::1').prefix, 128);
  const mapped = c('::ffff:10.0.0.0/104');
  assert.deepEqual(mapped, { v6: false, prefix: 8, base: 0x0a000000, mask: 0xff000000 });
  for (const bad of ['10.0.0.0/33', '::/129', 'abc', '10.0.0.0/', '10.0.0.0/x', '1.2.3.4/-1']) {
    assert.equal(typeof parseCidr(bad), 'string', bad);
  }
});

test('cidrContains: same family only, prefix lengths honoured', () => {
  const has = (cidr: string, ip: string) => cidrContains(parseCidr(cidr) as Cidr, parseIp(ip)!);
  assert.ok(has('10.0.0.0/8', '10.255.1.2'));
  assert.ok(!has('10.0.0.0/8', '11.0.0.1'));
  assert.ok(has('5.6.0.0/16', '5.6.7.8'));
  assert.ok(has('0.0.0.0/0', '192.168.1.1'));
  assert.ok(has('1.2.3.4', '1.2.3.4'));
  assert.ok(!has('1.2.3.4', '1.2.3.5'));
  assert.ok(has('192.168.10.0/24', '::ffff:192.168.10.77'), 'a dual-stack socket reports IPv4 peers mapped');
  assert.ok(has('2001:db8::/32', '2001:db8:1::5'));
  assert.ok(!has('2001:db8::/32', '2001:db9::5'));
  assert.ok(has('::/0', '::1'));
  assert.ok(!has('::/0', '1.2.3.4'), 'an IPv6 range does not hold IPv4 addresses');
  assert.ok(!has('0.0.0.0/0', '::1'));
  assert.ok(has('::ffff:10.0.0.0/104', '10.9.9.9'));
});

test("Istio string patterns: exact, prefix, suffix, and '*' as any non-empty value", () => {
  const exact = compileStringPattern('abc');
  assert.ok(exact('abc') && !exact('abcd') && !exact('ABC'));
  const prefix = compileStringPattern('abc*');
  assert.ok(prefix('abc') && prefix('abcdef') && !prefix('xabc'));
  const suffix = compileStringPattern('*abc');
  assert.ok(suffix('abc') && suffix('xxabc') && !suffix('abcx'));
  const any = compileStringPattern('*');
  assert.ok(any('x') && !any(''));
  const ci = compileStringPattern('Example.COM', true);
  assert.ok(ci('example.com'));
  const list = compileStringList(['exact.com', '*.suffix.com', 'prefix.*']);
  assert.ok(list('exact.com') && list('a.suffix.com') && list('prefix.org'));
  assert.ok(!list('other.com') && !list(''));
  const withAny = compileStringList(['a', '*']);
  assert.ok(withAny('zzz') && !withAny(''));
});

test('globs compile once to anchored regexes', () => {
  const g = compileGlob('ns-*-x');
  assert.ok(g.test('ns-a-x') && g.test('ns--x') && !g.test('ns-a-xy') && !g.test('xns-a-x'));
  assert.ok(compileGlob('a.b').test('a.b') && !compileGlob('a.b').test('axb'), 'dots are literal');
});

test('path templates: {*} is one segment, {**} any text, as Envoy uri_template matches', () => {
  const t = (tpl: string) => {
    const re = compilePathTemplate(tpl);
    assert.ok(re instanceof RegExp, `${tpl}: ${String(re)}`);
    return (p: string) => re.test(p);
  };
  const one = t('/foo/{*}');
  assert.ok(one('/foo/bar'));
  assert.ok(!one('/foo/bar/baz') && !one('/foo/') && !one('/foo'));
  const any = t('/foo/{**}');
  assert.ok(any('/foo/') && any('/foo/bar') && any('/foo/bar/baz.txt'));
  assert.ok(!any('/foo') && !any('/foobar'));
  const trailing = t('/foo/{**}/');
  assert.ok(trailing('/foo/bar/') && trailing('/foo//') && !trailing('/foo/bar'));
  const mid = t('/foo/{*}/bar/{**}');
  assert.ok(mid('/foo/buzz/bar/') && mid('/foo/buzz/bar/baz') && !mid('/foo/a/b/bar/baz'));
  const lead = t('/{**}/path/template');
  assert.ok(lead('/a/b/path/template') && lead('//path/template') && !lead('/path/template'));
  const tpl = t('/path/template/{*}');
  assert.ok(tpl('/path/template/x') && !tpl('/path/template/x/y'));
  assert.ok(t('/v1/{*}').call(null, '/v1/a.b-c~d'), 'pchars');
  assert.ok(!t('/v1/{*}').call(null, '/v1/a*b'), '"*" is not a pchar');
  for (const bad of [
    '/{**}/foo/{*}',
    '/foo/{*}.txt',
    '/*/baz/{*}',
    '/**/baz/{*}',
    'foo/{*}',
    '/a//{*}',
    '/{x}/{*}',
  ]) {
    assert.equal(typeof compilePathTemplate(bad), 'string', bad);
  }
});
