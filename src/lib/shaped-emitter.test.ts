import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { ShapedEventEmitter } from './shaped-emitter.js';

class Thing extends ShapedEventEmitter {
  readonly n = 1;
}

test('a shaped emitter behaves as an EventEmitter', () => {
  const t = new Thing();
  assert.ok(t instanceof EventEmitter);
  const seen: string[] = [];
  t.once('close', () => seen.push('close'));
  t.on('data', (x: string) => seen.push(`data ${x}`));
  t.on('custom', () => seen.push('custom'));
  t.emit('close');
  t.emit('close');
  t.emit('data', 'a');
  t.emit('custom');
  assert.deepEqual(seen, ['close', 'data a', 'custom']);
  assert.equal(t.listenerCount('close'), 0);
  assert.equal(t.listenerCount('data'), 1);
  t.removeAllListeners('data');
  assert.equal(t.listenerCount('data'), 0);
  assert.equal(t.emit('data', 'b'), false);
  assert.throws(() => t.emit('error', new Error('boom')), /boom/);
  assert.equal(t.n, 1);
});

test('its listener table is made once and kept when the last listener goes', () => {
  const t = new Thing() as Thing & { _events: object };
  const table = t._events;
  assert.notEqual(
    Object.getPrototypeOf(table),
    null,
    'a fixed-shape object, not a null-prototype dictionary',
  );
  const fn = () => {};
  t.on('close', fn);
  t.off('close', fn);
  t.once('finish', fn);
  t.emit('finish');
  assert.equal(t._events, table, 'a plain EventEmitter would have made a new table twice');
  // A plain EventEmitter replaces it: the premise of the class.
  const plain = new EventEmitter() as EventEmitter & { _events: object };
  const before = plain._events;
  plain.on('close', fn);
  plain.off('close', fn);
  assert.notEqual(plain._events, before);
});
