// Loaded into a proxy with `node --import` by bench/garbage.ts (never by Weft itself). SIGUSR2 starts
// V8's sampling heap profiler with the objects minor and major GCs collected included, so the samples
// count what becomes garbage as well as what stays; a second SIGUSR2 stops it and writes the profile to
// $WEFT_HEAP_SAMPLE_DIR/heap-<pid>.json.
import inspector from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.WEFT_HEAP_SAMPLE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  let sampling = false;
  process.on('SIGUSR2', () => {
    if (!sampling) {
      sampling = true;
      session.post('HeapProfiler.enable', () =>
        session.post('HeapProfiler.startSampling', {
          samplingInterval: 512,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        }),
      );
      return;
    }
    sampling = false;
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(join(dir, `heap-${process.pid}.json`), JSON.stringify(r.profile));
    });
  });
}
