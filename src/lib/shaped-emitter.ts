// An EventEmitter base for objects made per request (the HTTP/1.1 server's request and response). A plain
// EventEmitter starts each object with a dictionary-mode listener table and makes a fresh one whenever
// its last listener goes (a `once('close')` that fired): 0.3–0.7 KB of garbage per request between the
// two (an A/B and a heap profile). Node's own streams avoid that with a listener table of fixed shape,
// created with the object and never replaced ("shape mode", events.js `kShapeMode`): this base does the
// same, through the same EventEmitter methods. On a Node whose EventEmitter has no shape mode it is
// EventEmitter itself.
import { EventEmitter } from 'node:events';

const own = Object.getOwnPropertySymbols(new EventEmitter());
const kShapeMode = own.find((s) => s.description === 'shapeMode');
const kCapture = own.find((s) => s.description === 'kCapture');

type Fields = Record<string | symbol, unknown>;

function ShapedEmitter(this: Fields): void {
  // The names the request and response objects use; others are added to the table as they come. A
  // plain object literal, as Node's Readable has: a null prototype would make it a dictionary again.
  this._events = {
    close: undefined,
    error: undefined,
    finish: undefined,
    drain: undefined,
    data: undefined,
    end: undefined,
    readable: undefined,
    aborted: undefined,
  };
  this._eventsCount = 0;
  this._maxListeners = undefined;
  this[kCapture!] = false;
  this[kShapeMode!] = true;
}
ShapedEmitter.prototype = EventEmitter.prototype;

export const ShapedEventEmitter: typeof EventEmitter =
  kShapeMode !== undefined && kCapture !== undefined
    ? (ShapedEmitter as unknown as typeof EventEmitter)
    : EventEmitter;
