import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { helperThreadNice, lowerHelperThreads } from './helper-threads.js';

test(
  'helper threads get the lower priority, the event loop keeps its own',
  { skip: process.platform !== 'linux' },
  () => {
    const main = os.getPriority(process.pid);
    const before = helperThreadNice();
    assert.ok(before.size >= 4, `V8 and libuv helper threads expected, found ${before.size}`);

    const lowered = lowerHelperThreads(7);
    assert.ok(lowered >= before.size - 1, `${lowered} of ${before.size} lowered`);
    const after = helperThreadNice();
    for (const [tid, nice] of after) if (before.has(tid)) assert.equal(nice, 7, `thread ${tid}`);
    assert.equal(os.getPriority(process.pid), main, 'the main thread keeps its nice');
    assert.equal(lowerHelperThreads(0), 0, 'nice 0 leaves them alone');
  },
);
