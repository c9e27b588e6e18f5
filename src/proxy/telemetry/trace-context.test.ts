// Trace context: W3C and B3 (multi and single) in, both out; malformed headers are ignored; sampling
// respects an incoming decision, x-client-trace-id forces it, the percentage decides the rest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import {
  extractContext,
  injectContext,
  newSpanId,
  newTraceId,
  parseB3Multi,
  parseB3Single,
  parseTraceparent,
  sampleAt,
  startSpan,
} from './trace-context.js';

const T = '4bf92f3577b34da6a3ce929d0e0e4736';
const S = '00f067aa0ba902b7';
const P = 'e457b5a2e4d86bd1';

test('W3C traceparent: the spec examples parse; malformed values are ignored', () => {
  assert.deepEqual(parseTraceparent(`00-${T}-${S}-01`), { traceId: T, spanId: S, sampled: true });
  assert.deepEqual(parseTraceparent(`00-${T}-${S}-00`), { traceId: T, spanId: S, sampled: false });
  // Other flag bits are ignored; only bit 0 is "sampled".
  assert.equal(parseTraceparent(`00-${T}-${S}-03`)?.sampled, true);
  assert.equal(parseTraceparent(`00-${T}-${S}-02`)?.sampled, false);
  for (const [flags, sampled] of [
    ['09', true],
    ['0a', false],
    ['0b', true],
    ['ff', true],
    ['fe', false],
  ] as const)
    assert.equal(parseTraceparent(`00-${T}-${S}-${flags}`)?.sampled, sampled, flags);
  // A future version may append fields; version 00 may not.
  assert.deepEqual(parseTraceparent(`cc-${T}-${S}-01-what-the-future-holds`), {
    traceId: T,
    spanId: S,
    sampled: true,
  });
  for (const bad of [
    `00-${T}-${S}-01-extra`, // version 00 with extra fields
    `ff-${T}-${S}-01`, // version ff is invalid
    `00-${T.toUpperCase()}-${S}-01`, // upper-case hex
    `00-${'0'.repeat(32)}-${S}-01`, // all-zero trace ID
    `00-${T}-${'0'.repeat(16)}-01`, // all-zero span ID
    `00-${T.slice(1)}-${S}-01`, // short trace ID
    `00-${T}-${S}-1`, // short flags
    `00_${T}_${S}_01`,
    `00-${T}-${S}-0g`, // flags not hex
    `0g-${T}-${S}-01`, // version not hex
    `00-${T.slice(0, 31)}x-${S}-01`, // a non-hex character at the end of the trace ID
    `00-${T}-${S}-01 `, // version 00: nothing may follow
    `cc-${T}-${S}-01x`, // a later version's extra fields start with "-"
    `cc-${T}-${S}-01-a\nb`, // and are on one line
    `00-${T}-${S}`, // no flags
    '',
    'garbage',
  ])
    assert.equal(parseTraceparent(bad), undefined, bad);
});

test('W3C traceparent: the parser agrees with the spec grammar on every one-character change of a header', () => {
  // The reference: the W3C grammar as a regular expression (what parseTraceparent used to run).
  const reference = (v: string) => {
    const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(v);
    if (!m || m[1] === 'ff' || (m[1] === '00' && m[5] !== undefined)) return undefined;
    if (m[2] === '0'.repeat(32) || m[3] === '0'.repeat(16)) return undefined;
    return { traceId: m[2], spanId: m[3], sampled: (parseInt(m[4]!, 16) & 1) === 1 };
  };
  const chars = ['-', '0', '9', 'a', 'f', 'g', 'A', 'F', ' ', '\n', '\u2028', 'é'];
  let checked = 0;
  for (const base of [`00-${T}-${S}-01`, `01-${T}-${S}-00`, `fe-${T}-${S}-0b-x`]) {
    const variants = [base, base + '-', base + '-tail', base.slice(0, -1)];
    for (let i = 0; i < base.length; i++)
      for (const c of chars)
        variants.push(base.slice(0, i) + c + base.slice(i + 1), base.slice(0, i) + c + base.slice(i));
    for (const v of variants) {
      assert.deepEqual(parseTraceparent(v), reference(v), JSON.stringify(v));
      checked++;
    }
  }
  assert.ok(checked > 1000);
});

test('B3 multi-header: 128- and 64-bit trace IDs, sampled and debug flags; half a context is ignored', () => {
  assert.deepEqual(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '1' }), {
    traceId: T,
    spanId: S,
    sampled: true,
  });
  // 64-bit trace IDs are left-padded to 128 bits; IDs are read case-insensitively.
  assert.deepEqual(parseB3Multi({ 'x-b3-traceid': 'A3CE929D0E0E4736', 'x-b3-spanid': S }), {
    traceId: '0000000000000000a3ce929d0e0e4736',
    spanId: S,
  });
  assert.equal(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': 'true' })?.sampled, true);
  assert.equal(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-sampled': '0' })?.sampled, false);
  assert.deepEqual(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S, 'x-b3-flags': '1' }), {
    traceId: T,
    spanId: S,
    sampled: true,
    debug: true,
  });
  // Only a decision: respected, with a new trace.
  assert.deepEqual(parseB3Multi({ 'x-b3-sampled': '0' }), { sampled: false });
  // Malformed: as if absent.
  assert.equal(parseB3Multi({ 'x-b3-traceid': T }), undefined, 'no span ID');
  assert.equal(parseB3Multi({ 'x-b3-spanid': S }), undefined, 'no trace ID');
  assert.equal(parseB3Multi({ 'x-b3-traceid': 'xyz', 'x-b3-spanid': S }), undefined);
  assert.equal(parseB3Multi({ 'x-b3-traceid': T, 'x-b3-spanid': S.slice(2) }), undefined);
  assert.equal(parseB3Multi({ 'x-b3-traceid': '0'.repeat(16), 'x-b3-spanid': S }), undefined);
  assert.equal(parseB3Multi({}), undefined);
});

test('B3 single header: full, without sampling state, decision only; malformed is ignored', () => {
  assert.deepEqual(parseB3Single(`${T}-${S}-1-${P}`), { traceId: T, spanId: S, sampled: true });
  assert.deepEqual(parseB3Single(`${T}-${S}-0`), { traceId: T, spanId: S, sampled: false });
  assert.deepEqual(parseB3Single(`${T}-${S}-d`), { traceId: T, spanId: S, sampled: true, debug: true });
  assert.deepEqual(parseB3Single(`${T}-${S}`), { traceId: T, spanId: S });
  assert.deepEqual(parseB3Single('0'), { sampled: false });
  assert.deepEqual(parseB3Single('d'), { sampled: true, debug: true });
  for (const bad of [`${T}-${S}-x`, `${T}-${S}-1-zz`, `${T}`, `${T}-${S}-1-${P}-more`, 'nope', ''])
    assert.equal(parseB3Single(bad), undefined, bad);
});

test('precedence: traceparent, then B3 multi, then b3; a malformed traceparent falls through', () => {
  const other = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
  const h = {
    traceparent: `00-${T}-${S}-01`,
    tracestate: 'congo=t61rcWkgMzE',
    'x-b3-traceid': other,
    'x-b3-spanid': P,
    b3: `${other}-${P}-1`,
  };
  assert.deepEqual(extractContext(h), {
    traceId: T,
    spanId: S,
    sampled: true,
    tracestate: 'congo=t61rcWkgMzE',
  });
  assert.equal(extractContext({ ...h, traceparent: 'broken' })?.traceId, other);
  assert.equal(extractContext({ b3: `${other}-${P}-1`, 'x-b3-traceid': 'broken' })?.traceId, other);
  assert.equal(extractContext({ traceparent: 'broken', 'x-b3-traceid': 'broken' }), undefined);
});

test('a new span continues the incoming trace with the caller as parent; none (or malformed) starts one', () => {
  const s = startSpan({ traceparent: `00-${T}-${S}-01`, tracestate: 'k=v' }, 'client', 0);
  assert.equal(s.traceId, T);
  assert.equal(s.parentId, S);
  assert.match(s.spanId, /^[0-9a-f]{16}$/);
  assert.notEqual(s.spanId, S);
  assert.equal(s.sampled, true);
  assert.equal(s.tracestate, 'k=v');
  assert.equal(s.kind, 'client');
  const fresh = startSpan({ traceparent: `00-${T}-${'0'.repeat(16)}-01` }, 'server', 100);
  assert.notEqual(fresh.traceId, T);
  assert.match(fresh.traceId, /^[0-9a-f]{32}$/);
  assert.equal(fresh.parentId, undefined);
  assert.equal(fresh.sampled, true);
  // IDs are random and distinct.
  // Several refills of the random pool, mixing both lengths: lower-case hex of the right length, distinct.
  const spans = Array.from({ length: 2000 }, newSpanId);
  const traces = Array.from({ length: 600 }, () => [newTraceId(), newSpanId()]).flat();
  assert.equal(new Set([...spans, ...traces]).size, spans.length + traces.length);
  for (const id of spans) assert.match(id, /^[0-9a-f]{16}$/);
  for (const [i, id] of traces.entries()) assert.match(id, i % 2 ? /^[0-9a-f]{16}$/ : /^[0-9a-f]{32}$/);
});

test('sampling: the incoming decision wins, x-client-trace-id forces, the percentage decides the rest', () => {
  const never = () => 0.999999;
  const always = () => 0;
  assert.equal(startSpan({ 'x-b3-sampled': '0' }, 'client', 100).sampled, false, 'sampled=0 at 100%');
  assert.equal(startSpan({ traceparent: `00-${T}-${S}-00` }, 'client', 100).sampled, false);
  assert.equal(startSpan({ traceparent: `00-${T}-${S}-01` }, 'client', 0).sampled, true, 'sampled=1 at 0%');
  assert.equal(startSpan({ 'x-b3-flags': '1' }, 'client', 0).sampled, true, 'debug');
  const forced = startSpan({ 'x-client-trace-id': 'abc' }, 'client', 0, never);
  assert.equal(forced.sampled, true);
  assert.equal(forced.forced, true);
  // Without a decision: the percentage, in 0.01% steps.
  assert.equal(startSpan({}, 'client', 0, always).sampled, false);
  assert.equal(startSpan({}, 'client', 100, never).sampled, true);
  assert.equal(
    sampleAt(0.01, () => 0.00009),
    true,
  );
  assert.equal(
    sampleAt(0.01, () => 0.0001),
    false,
  );
  assert.equal(
    sampleAt(1, () => 0.0099),
    true,
  );
  assert.equal(
    sampleAt(1, () => 0.01),
    false,
  );
  // Statistically: ~25% of 20,000 with the real random source.
  let n = 0;
  for (let i = 0; i < 20_000; i++) if (startSpan({}, 'client', 25).sampled) n++;
  assert.ok(n > 4500 && n < 5500, `sampled ${n} of 20000 at 25%`);
});

test('injection writes one consistent context in W3C and B3, replacing stale headers', () => {
  const s = startSpan({ traceparent: `00-${T}-${S}-01`, tracestate: 'k=v' }, 'client', 0);
  const h: OutgoingHttpHeaders = {
    'x-b3-flags': '1',
    'x-b3-parentspanid': 'ffffffffffffffff',
    b3: 'stale',
  };
  injectContext(h, s);
  assert.deepEqual(h, {
    traceparent: `00-${T}-${s.spanId}-01`,
    tracestate: 'k=v',
    'x-b3-traceid': T,
    'x-b3-spanid': s.spanId,
    'x-b3-parentspanid': S,
    'x-b3-sampled': '1',
    b3: `${T}-${s.spanId}-1-${S}`,
  });
  // The next hop reads back the same span as its parent, whichever format it prefers.
  for (const only of [
    { traceparent: h.traceparent },
    { 'x-b3-traceid': h['x-b3-traceid'], 'x-b3-spanid': h['x-b3-spanid'], 'x-b3-sampled': h['x-b3-sampled'] },
    { b3: h.b3 },
  ]) {
    const next = extractContext(only as unknown as Record<string, string>);
    assert.equal(next?.traceId, T);
    assert.equal(next?.spanId, s.spanId);
    assert.equal(next?.sampled, true);
  }
  // A root span: no parent header, no b3 unless the request used it; not sampled is said explicitly.
  const root = startSpan({}, 'client', 0, () => 0.5);
  const h2: OutgoingHttpHeaders = { tracestate: 'old=1', 'x-b3-parentspanid': P };
  injectContext(h2, root);
  assert.deepEqual(Object.keys(h2).sort(), ['traceparent', 'x-b3-sampled', 'x-b3-spanid', 'x-b3-traceid']);
  assert.equal(h2['x-b3-sampled'], '0');
  assert.match(String(h2.traceparent), /-00$/);
  // Debug: x-b3-flags instead of x-b3-sampled.
  const debug = startSpan({ 'x-b3-flags': '1', 'x-b3-traceid': T, 'x-b3-spanid': S }, 'client', 0);
  const h3: OutgoingHttpHeaders = { 'x-b3-sampled': '1' };
  injectContext(h3, debug);
  assert.equal(h3['x-b3-flags'], '1');
  assert.equal(h3['x-b3-sampled'], undefined);
});
