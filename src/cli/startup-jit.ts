// TurboFan held back while a proxy starts. Loading its ~115 ES modules makes Node's module resolver
// (URL parsing, path normalizing) hot enough for V8 to optimize it, and running the optimizing
// compiler once maps ~3.5 MB more of the `node` binary's code into the process, which an idle sidecar
// then keeps resident for nothing. Sparkplug and the interpreter run the start; TurboFan is back on as
// soon as the proxy is ready, so request handling is optimized as before.
import v8 from 'node:v8';

let held = false;

/** Node flags that decide about V8's tiers themselves: then the proxy leaves them alone. */
const JIT_FLAGS = /--(no-)?(turbofan|opt|max-opt|jitless|maglev|sparkplug)\b/;

export function holdOptimizingCompiler(): void {
  if ([...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => JIT_FLAGS.test(a))) return;
  v8.setFlagsFromString('--no-turbofan');
  held = true;
}

/** Idempotent; a no-op when the compiler was not held. */
export function releaseOptimizingCompiler(): void {
  if (!held) return;
  held = false;
  v8.setFlagsFromString('--turbofan');
}
