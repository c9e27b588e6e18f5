// The proxy's helper threads (V8's: TurboFan compiles, GC marking and sweeping; and libuv's pool) at a
// lower CPU priority than its event loop. A sidecar usually shares its core: with the app, with other
// sidecars, in the bench with the proxy at the other end of the hop. A 2–5 ms TurboFan job that V8
// starts in the background under steady load then takes the core from an event loop that has a request
// to carry, and every request in flight waits for it. Linux's nice is per thread, so the loop keeps
// nice 0 and the helpers get HELPER_NICE: they still run whenever the core would otherwise idle (most of
// the time, below saturation). A GC pause must not wait for them, so the proxy then has the main thread
// scavenge alone (scavengeOnMainThread). WEFT_PROXY_HELPER_NICE=0 leaves them as they are.
import { readdirSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';

export const HELPER_NICE = 10;

/** Threads of a process (this one by default) other than its main one (Linux; none elsewhere). */
function helperThreads(pid = process.pid): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((tid) => tid !== pid);
  } catch {
    return [];
  }
}

/** Sets `nice` on every helper thread there is now; returns how many took it. */
export function lowerHelperThreads(nice = HELPER_NICE): number {
  if (nice <= 0) return 0;
  let lowered = 0;
  for (const tid of helperThreads()) {
    try {
      // On Linux setpriority(PRIO_PROCESS, tid) sets that one thread's nice.
      os.setPriority(tid, nice);
      lowered++;
    } catch {
      // Gone meanwhile, or not allowed: the thread keeps its priority.
    }
  }
  return lowered;
}

/**
 * Scavenges (young-generation GCs) done by the main thread alone. V8 splits a scavenge between the main
 * thread and its helpers, and the pause lasts until every helper has finished its share: with the helpers
 * at a lower priority, on a core that other processes' event loops keep busy, the pause waited for them.
 * Two meshes loaded together on one core (1,000 req/s each): median scavenge pauses 0.4–0.7 ms this way,
 * 0.5–4.7 ms split, for the same CPU per request. A young generation of at most 8 MB with ~50 KB surviving
 * a scavenge gains nothing from a second thread, and a proxy given one core has none to give it.
 */
export function scavengeOnMainThread(): void {
  v8.setFlagsFromString('--no-parallel-scavenge'); // read by V8 at each scavenge
}

/**
 * Sets `nice` on a child process, every thread of it: the main thread first, so threads it starts from
 * now on inherit the value, then those it already has. Best effort: a thread it gains from another
 * thread in between keeps nice 0.
 */
export function lowerProcess(pid: number, nice = HELPER_NICE): void {
  if (nice <= 0) return;
  for (const tid of [pid, ...helperThreads(pid)]) {
    try {
      os.setPriority(tid, nice);
    } catch {
      // Exited meanwhile, or not allowed.
    }
  }
}

/** Helper threads' nice values, by thread id (for tests and diagnostics). */
export function helperThreadNice(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of helperThreads()) {
    try {
      out.set(tid, os.getPriority(tid));
    } catch {
      /* gone */
    }
  }
  return out;
}
