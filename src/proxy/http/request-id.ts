// x-request-id values: random (version 4) UUIDs, as Envoy generates. node:crypto's randomUUID builds each
// one from 20 string concatenations, ~0.6 KB of garbage per request; here a batch of UUIDs is written
// as text into one buffer from one draw of random bytes, and each request takes a 36-byte slice of it.
import { randomFillSync } from 'node:crypto';

const BATCH = 128;
const random = Buffer.allocUnsafeSlow(16 * BATCH);
const text = Buffer.allocUnsafeSlow(36 * BATCH);
const HEX = Buffer.from('0123456789abcdef', 'latin1');
let next = BATCH;

function refill(): void {
  randomFillSync(random);
  let t = 0;
  for (let r = 0; r < random.length; r += 16) {
    random[r + 6] = (random[r + 6]! & 0x0f) | 0x40; // version 4
    random[r + 8] = (random[r + 8]! & 0x3f) | 0x80; // variant 10xx (RFC 9562)
    for (let j = 0; j < 16; j++) {
      if (j === 4 || j === 6 || j === 8 || j === 10) text[t++] = 0x2d; // '-'
      const b = random[r + j]!;
      text[t++] = HEX[b >> 4]!;
      text[t++] = HEX[b & 15]!;
    }
  }
  next = 0;
}

/** A fresh random UUID, e.g. `1b4e28ba-2fa1-4d2e-883f-0016d3cca427`. */
export function requestId(): string {
  if (next === BATCH) refill();
  const at = 36 * next++;
  return text.toString('latin1', at, at + 36);
}
