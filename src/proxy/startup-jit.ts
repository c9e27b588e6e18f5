// TurboFan held back until the proxy carries traffic. Loading its ~115 ES modules makes Node's module
// resolver (URL parsing, path normalizing) hot enough for V8 to optimize it, and running the optimizing
// compiler once maps ~3.5 MB more of the `node` binary's code into the process, which an idle sidecar
// then keeps resident for nothing. Released at ready, it still came for an idle proxy sooner or later
// (at ready, or two minutes on, depending on how often start-up had called one of Node's argument
// checks): so it stays off until the first connection to a data-plane listener (listeners/tracked.ts).
// Sparkplug and the interpreter run the start and the control stream; request handling is optimized
// as before, from the first connection on.
import v8 from 'node:v8';

let held = false;

/** Node flags that decide about V8's tiers themselves: then the proxy leaves them alone. */
const JIT_FLAGS = /--(no-)?(turbofan|opt|max-opt|jitless|maglev|sparkplug)\b/;

export function holdOptimizingCompiler(): void {
  if ([...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => JIT_FLAGS.test(a))) return;
  v8.setFlagsFromString('--no-turbofan');
  held = true;
}

/** Whether TurboFan is held back now. */
export const optimizingCompilerHeld = (): boolean => held;

/** Idempotent; a no-op when the compiler was not held. */
export function releaseOptimizingCompiler(): void {
  if (!held) return;
  held = false;
  v8.setFlagsFromString('--turbofan');
}
