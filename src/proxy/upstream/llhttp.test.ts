import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HeaderNames,
  hasInvalidChar,
  HTTPParser,
  isToken,
  lowerName,
  newParser,
  validValue,
} from './llhttp.js';

test('header names in lower case, remembered, and the memory bounded', () => {
  assert.equal(lowerName('Content-Type'), 'content-type');
  assert.equal(lowerName('Content-Type'), 'content-type', 'again, from what was remembered');
  assert.equal(lowerName('x-request-id'), 'x-request-id');
  assert.equal(lowerName('X-Forwarded-For'), 'x-forwarded-for');
  for (let i = 0; i < 3000; i++) assert.equal(lowerName(`X-Made-Up-${i}`), `x-made-up-${i}`);
  assert.equal(lowerName('Content-Length'), 'content-length');
});

test('header names are tokens: the remembered ones stay valid, a bad one is refused every time', () => {
  assert.equal(isToken('content-type'), true);
  assert.equal(isToken('content-type'), true, 'again, from what was remembered');
  for (const bad of ['bad name', 'x-a\r\nx-b', 'x:y', '', 'ü'])
    for (let i = 0; i < 2; i++) assert.equal(isToken(bad), false, JSON.stringify(bad));
  // Past the limit new names are checked each time, right either way.
  for (let i = 0; i < 1000; i++) assert.equal(isToken(`x-made-up-${i}`), true);
  assert.equal(isToken('x-made-up-999'), true);
  assert.equal(isToken('x made up'), false);
  assert.equal(isToken('content-type'), true);
});

test("llhttp's strict parse refuses exactly the value bytes hasInvalidChar finds, in requests and answers", () => {
  // validValue skips the second check for values the parser gave: that is sound only while the two agree.
  for (const type of [HTTPParser.REQUEST, HTTPParser.RESPONSE]) {
    const start = type === HTTPParser.REQUEST ? 'GET / HTTP/1.1\r\nHost: x\r\n' : 'HTTP/1.1 200 OK\r\n';
    for (let c = 0; c < 256; c++) {
      let lines: string[] | undefined;
      const p = newParser(type, {
        headers: () => {},
        headersComplete: ((_a: number, _b: number, l: string[]) => void (lines = l)) as never,
        body: () => {},
        messageComplete: () => {},
        execute: () => {},
      }) as unknown as { execute(b: Buffer): unknown; close(): void };
      const head = Buffer.concat([Buffer.from(`${start}x-a: a`), Buffer.from([c]), Buffer.from('b\r\n\r\n')]);
      const ret = p.execute(head);
      p.close();
      const parsed = !(ret instanceof Error) && lines !== undefined;
      const refused = hasInvalidChar(`a${String.fromCharCode(c)}b`);
      assert.equal(parsed, !refused, `${type === HTTPParser.REQUEST ? 'request' : 'answer'}, byte ${c}`);
      if (parsed) assert.equal(lines![lines!.length - 1], `a${String.fromCharCode(c)}b`);
    }
  }
});

test('values among the parsed lines are taken as they are; any other value is checked', () => {
  const lines = ['Host', 'x', 'X-A', 'fine'];
  assert.equal(validValue('fine', lines), true);
  assert.equal(validValue(['fi', 'ne'].join(''), lines), true, 'the same text, another string');
  assert.equal(validValue('also fine', lines), true, 'not parsed, checked, valid');
  for (const bad of ['b\r\nx-evil: 1', 'nul\0', 'del\x7f']) {
    assert.equal(validValue(bad, lines), false, JSON.stringify(bad));
    assert.equal(validValue(bad, undefined), false, JSON.stringify(bad));
  }
  // Names are not values: a header whose value reads like a parsed name is still checked as a value.
  assert.equal(validValue('X-A', ['X-A\r\n', 'v']), true);
  assert.equal(validValue('X-A\r\n', ['X-A\r\n', 'v']), false);
});

test("a connection's header names: by place in the last message, else looked up, always right", () => {
  const names = new HeaderNames();
  const fresh = (s: string) => Buffer.from(s, 'latin1').toString('latin1'); // a new string, as the parser makes
  for (let round = 0; round < 3; round++) {
    assert.equal(names.get(0, fresh('Content-Type')), 'content-type');
    assert.equal(names.get(1, fresh('x-request-id')), 'x-request-id');
  }
  // Another name at a known place, a place past the last, and many names.
  assert.equal(names.get(0, fresh('Server')), 'server');
  assert.equal(names.get(5, fresh('X-Five')), 'x-five');
  for (let i = 0; i < 100; i++) assert.equal(names.get(i, fresh(`X-N-${i}`)), `x-n-${i}`);
  for (let i = 0; i < 100; i++) assert.equal(names.get(i, fresh(`X-N-${i}`)), `x-n-${i}`, 'again');
  assert.equal(names.get(0, fresh('X-N-1')), 'x-n-1', 'a name seen elsewhere, now at place 0');
});

test('a message with very many headers has its values checked, not searched for', () => {
  const many = Array.from({ length: 200 }, (_, i) => [`x-${i}`, `v${i}`]).flat();
  assert.equal(validValue('v150', many), true, 'valid: checked');
  assert.equal(validValue('b\r\nx-evil: 1', many), false);
  // A probe of the limit: lines the parser would never give, with a bad value among them. Searched, the
  // value would pass; past the limit it is checked, and refused.
  const probe = (n: number) => [
    ...Array.from({ length: n }, (_, i) => [`x-${i}`, `v${i}`]).flat(),
    'x',
    'b\r\n',
  ];
  assert.equal(validValue('b\r\n', probe(10)), true, 'few headers: found among the lines');
  assert.equal(validValue('b\r\n', probe(200)), false, 'many headers: checked');
});
