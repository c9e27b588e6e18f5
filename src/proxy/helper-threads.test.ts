import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { helperThreadNice, lowerHelperThreads, lowerProcess } from './helper-threads.js';

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

test(
  'a child process gets the lower priority on every thread, those it starts later included',
  { skip: process.platform !== 'linux' },
  async () => {
    // The child starts a worker thread only when told to, after it has been lowered.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `process.stdin.once('data', () => { new (require('node:worker_threads').Worker)('setInterval(() => {}, 1000)', { eval: true }); setTimeout(() => console.log('started'), 200); });`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const mine = os.getPriority(process.pid);
    try {
      await once(child, 'spawn');
      const pid = child.pid!;
      lowerProcess(pid, 7);
      child.stdin.write('go\n');
      await once(child.stdout, 'data');
      // /proc/PID/task/TID/stat: the 19th field (after the parenthesised name) is nice.
      const nices = readdirSync(`/proc/${pid}/task`).map((tid) =>
        Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]),
      );
      assert.ok(nices.length >= 6, `threads: ${nices.length}`);
      assert.deepEqual(
        nices.filter((n) => n !== 7),
        [],
        `every thread at nice 7: ${nices.join(',')}`,
      );
      assert.equal(os.getPriority(process.pid), mine, 'this process keeps its nice');
    } finally {
      child.kill();
    }
  },
);

test('scavenges on the main thread alone: no helper works during a scavenge', () => {
  // A child with room for several scavenge tasks (4 MB semi-spaces) and objects that survive; V8's
  // --trace-gc-nvp reports each scavenge's helper time as background.scavenge.parallel.
  const script = `
    const mode = process.argv[1];
    if (mode === 'main') import(${JSON.stringify(new URL('./helper-threads.js', import.meta.url).href)}).then((m) => { m.scavengeOnMainThread(); run(); });
    else run();
    function run() {
      let keep = []; const live = [];
      for (let i = 0; i < 3e6; i++) { keep.push({ a: i, b: [i] }); if (keep.length > 20000) { live.push(keep); if (live.length > 8) live.shift(); keep = []; } }
    }`;
  const helperMs = (mode: string) =>
    execFileSync(process.execPath, ['--trace-gc-nvp', '--min-semi-space-size=4', '-e', script, mode], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter((l) => l.includes('gc=s '))
      .map((l) => Number(/background\.scavenge\.parallel=([\d.]+)/.exec(l)?.[1] ?? NaN));
  const main = helperMs('main');
  assert.ok(main.length >= 3, `scavenges: ${main.length}`);
  assert.deepEqual(
    main.filter((ms) => ms !== 0),
    [],
    'no helper time in any scavenge',
  );
  if (os.availableParallelism() > 1) {
    const split = helperMs('split');
    assert.ok(
      split.some((ms) => ms > 0),
      `by default V8 shares scavenges with its helpers: ${split.join(',')}`,
    );
  }
});
