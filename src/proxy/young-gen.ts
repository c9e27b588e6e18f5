// A cap on V8's young generation, set by the proxy on itself, and its release once the proxy goes idle.
// Under steady traffic V8 doubles the young generation whenever the bytes surviving scavenges since its
// last growth exceed its size, so a proxy at 1,000 req/s reaches Node's maximum (32 MB of semi-spaces)
// within a minute, for request garbage that dies young anyway. `--max-semi-space-size` would cap it, but
// only as a Node flag everyone running `weft proxy` would have to pass; V8 reads its growth factor each
// time it grows the space, so the proxy stops the growth (factor 1) and allows it again (factor 2, V8's
// default) itself. Two steps: held at half the cap (4 MB) while that is cheap, grown to the cap (8 MB,
// WEFT_PROXY_YOUNG_GEN_MB) once scavenges take more than BUSY_SCAVENGE_SHARE of the time or more than
// BUSY_PROMOTED_BYTES_PER_S reaches the old space, for a few seconds. A sidecar at 1,000 HTTP/1.1 req/s
// scavenges 0.3–0.5 ms every ~165 ms with 4 MB and promotes 20–40 KB/s, and stays there (3–5 MB less
// than with 8); at 3,000 req/s it promoted ~230 KB/s and needs the 8. Past the cap (tried: V8's own
// growth to 32 MB when scavenging stayed busy) gRPC sidecars held 30 MB more, HTTP/1.1 ones at 3,000
// req/s 12 MB more, and neither used less CPU.
//
// V8 shrinks the young generation only at a GC that finds the allocation rate of its last ~5 s low,
// and an idle proxy allocates too little to reach a GC for minutes: after traffic stops, the grown
// space (8 MB resident) stays until V8's memory reducer happens to run (28–46 s after a load in our
// runs). So when no GC has come for a second and little was allocated meanwhile, the proxy asks for a
// full GC itself (it starts V8's 5 s window with nearly nothing allocated), and if it is still quiet
// 5.5 s later for a second one, at which V8 shrinks the young generation back to its initial size.
import v8 from 'node:v8';
import vm from 'node:vm';
import { PerformanceObserver, constants, performance, type PerformanceEntry } from 'node:perf_hooks';

/** No GC for this long, allocating little: traffic has stopped (under load scavenges come far more often). */
export const QUIET_MS = 1_000;
/** The wait after the first GC: V8 judges the allocation rate over the last 5 s. */
export const IDLE_MS = 5_500;
/** Below this allocation rate the proxy counts as idle (V8 shrinks below ~1 MB/s). */
export const IDLE_BYTES_PER_S = 512 * 1024;

/** Above this rate of promotion the young generation may grow from the hold to the cap… */
export const BUSY_PROMOTED_BYTES_PER_S = 128 * 1024;
/** …or above this share of the time spent in scavenges. */
export const BUSY_SCAVENGE_SHARE = 0.01;
/** Promotion is judged over windows of at least this long (several scavenges)… */
export const PROMOTION_WINDOW_MS = 1_000;
/** …and counts as busy after this many windows in a row above the rate: a proxy that just started or
 *  met new traffic compiles code into the old space for 2–3 s, at 0.3–4 MB/s, which is no promotion. */
export const BUSY_PROMOTION_WINDOWS = 5;
/** Scavenge time counts after fewer (the same start spends 2–5 % of one or two windows in scavenges). */
export const BUSY_SCAVENGE_WINDOWS = 3;

export interface BusyStreaks {
  /** Windows in a row that promoted more than BUSY_PROMOTED_BYTES_PER_S… */
  promoted: number;
  /** …and that spent more than BUSY_SCAVENGE_SHARE of their time in scavenges. */
  scavenging: number;
}

/** The streaks after one more window that promoted `bytesPerS` and spent `scavengeShare` scavenging. */
export function nextStreaks(s: BusyStreaks, bytesPerS: number, scavengeShare: number): BusyStreaks {
  return {
    promoted: bytesPerS > BUSY_PROMOTED_BYTES_PER_S ? s.promoted + 1 : 0,
    scavenging: scavengeShare > BUSY_SCAVENGE_SHARE ? s.scavenging + 1 : 0,
  };
}

/** Whether V8 may grow the young generation: up to `cap / 2` always, up to `cap` while a small one costs. */
export function mayGrow(size: number, cap: number, s: BusyStreaks): boolean {
  if (size < cap / 2) return true;
  return size < cap && (s.promoted >= BUSY_PROMOTION_WINDOWS || s.scavenging >= BUSY_SCAVENGE_WINDOWS);
}

export interface IdleState {
  /** Young-generation capacity now, and as V8 started it. */
  size: number;
  initialSize: number;
  /** Time since the last GC, and the bytes allocated in the young generation over the last `windowMs`
   *  (since that GC or the last look, whichever came later). */
  sinceGcMs: number;
  allocated: number;
  windowMs: number;
  /** Since the last scavenge (the last sign of traffic): the first GC was asked for; the second too. */
  primed: boolean;
  collected: boolean;
}

/**
 * What to do when no GC has come for a while: `wait` (look again later), `prime` (ask for the first GC),
 * `collect` (the second, which shrinks), or `none` (nothing to give back, or wait for traffic first).
 */
export function idleStep(s: IdleState): 'wait' | 'prime' | 'collect' | 'none' {
  if (s.collected || s.size <= s.initialSize) return 'none';
  if (s.sinceGcMs < (s.primed ? IDLE_MS : QUIET_MS)) return 'wait';
  const quiet = (s.allocated * 1000) / Math.max(s.windowMs, 1) < IDLE_BYTES_PER_S;
  // Still allocating after the first GC: V8 would not shrink; the next scavenge starts over.
  if (s.primed) return quiet ? 'collect' : 'none';
  return quiet ? 'prime' : 'wait';
}

const isScavenge = (e: PerformanceEntry) =>
  (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ===
  constants.NODE_PERFORMANCE_GC_MINOR;

const isMarkCompact = (e: PerformanceEntry) =>
  (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ===
  constants.NODE_PERFORMANCE_GC_MAJOR;

function spaces(): { young: v8.HeapSpaceInfo | undefined; oldUsed: number } {
  const all = v8.getHeapSpaceStatistics();
  return {
    young: all.find((s) => s.space_name === 'new_space'),
    oldUsed: all.find((s) => s.space_name === 'old_space')?.space_used_size ?? 0,
  };
}
const newSpace = () => spaces().young;

/**
 * One full GC, without --expose-gc: an eager vm.measureMemory marks and compacts the whole heap. With
 * `compact`, V8 runs it as if optimizing for size (`--optimize-for-size` until the GC is done), so it
 * evacuates fragmented old-space pages as its own memory reducer would, instead of ~8 s later.
 */
function collectFull(compact: boolean): void {
  // vm.measureMemory is still marked experimental (Node 20–24); its one-time ExperimentalWarning would
  // land in the proxy log as if something were wrong, so it is kept out of there.
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  if (compact) v8.setFlagsFromString('--optimize-for-size');
  try {
    vm.measureMemory({ mode: 'summary', execution: 'eager' })
      .catch(() => {})
      .finally(() => compact && v8.setFlagsFromString('--no-optimize-for-size'));
  } finally {
    process.emitWarning = emitWarning;
  }
}

// While the proxy starts, the young generation stays at its initial size: loading the modules grows it
// to 4–8 MB otherwise, for objects that mostly live on (code, module records) and are promoted anyway.
let startupHold = false;

/** Ends the start-up hold of `capYoungGeneration(…, true)`: V8 may grow the young generation again. */
export function releaseStartupHold(): void {
  startupHold = false;
}

export function capYoungGeneration(capBytes: number, holdAtStart = false): void {
  const initialSize = newSpace()?.space_size ?? 0;
  // Held counts as capped: the first GC after the release sets the growth factor back to 2.
  let capped = holdAtStart;
  startupHold = holdAtStart;
  if (holdAtStart) v8.setFlagsFromString('--semi-space-growth-factor=1');
  let lastGcAt = performance.now();
  // Where the allocation window starts: the last GC or the last look, whichever came later.
  let windowAt = lastGcAt;
  let windowUsed = 0;
  let primed = false;
  let collected = false;
  let timer: NodeJS.Timeout | undefined;
  // Promotion: old-space growth from one scavenge to the next, summed over a window.
  let streaks: BusyStreaks = { promoted: 0, scavenging: 0 };
  let oldUsed = spaces().oldUsed;
  let promoted = 0;
  let scavengeMs = 0;
  let promotionFrom = lastGcAt;

  // Timers may fire a little early against a `lastGcAt` taken when the GC was reported.
  const arm = (sinceGcMs = 0) => {
    const wait = Math.max((primed ? IDLE_MS : QUIET_MS) - sinceGcMs, 0) + 20;
    timer ??= setTimeout(checkIdle, wait).unref();
  };
  function checkIdle() {
    timer = undefined;
    const space = newSpace();
    const now = performance.now();
    const used = space?.space_used_size ?? 0;
    const step = idleStep({
      size: space?.space_size ?? 0,
      initialSize,
      sinceGcMs: now - lastGcAt,
      allocated: Math.max(0, used - windowUsed),
      windowMs: now - windowAt,
      primed,
      collected,
    });
    windowAt = now;
    windowUsed = used;
    if (step === 'wait') return arm(now - lastGcAt);
    if (step === 'none') return;
    if (step === 'prime') primed = true;
    else collected = true;
    collectFull(collected); // its GC entry arms the next check
  }

  const observer = new PerformanceObserver((list) => {
    const { young: space, oldUsed: oldNow } = spaces();
    const size = space?.space_size ?? 0;
    const entries = list.getEntries();
    lastGcAt = windowAt = performance.now();
    // A scavenge means the proxy allocates again: the next quiet period starts over.
    if (entries.some(isScavenge)) {
      primed = collected = false;
      for (const e of entries) if (isScavenge(e)) scavengeMs += e.duration;
      // A mark-compact in the batch shrank the old space: that is no promotion, start over from here.
      if (!entries.some(isMarkCompact)) promoted += Math.max(0, oldNow - oldUsed);
      if (lastGcAt - promotionFrom >= PROMOTION_WINDOW_MS) {
        const windowMs = lastGcAt - promotionFrom;
        streaks = nextStreaks(streaks, (promoted * 1000) / windowMs, scavengeMs / windowMs);
        promoted = scavengeMs = 0;
        promotionFrom = lastGcAt;
      }
    }
    oldUsed = oldNow;
    windowUsed = space?.space_used_size ?? 0;
    arm();
    if (startupHold) return;
    const cap = !mayGrow(size, capBytes, streaks);
    if (cap === capped) return;
    capped = cap;
    v8.setFlagsFromString(`--semi-space-growth-factor=${cap ? 1 : 2}`);
  });
  observer.observe({ entryTypes: ['gc'] });
}
