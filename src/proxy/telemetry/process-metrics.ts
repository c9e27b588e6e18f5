// The standard process_* metrics (names as prom-client and client_golang write them), so the usual
// "memory / CPU per proxy" panels work for Weft's proxies and control plane too. Read at scrape time.
import type { Exposition } from './prom-text.js';

const startTimeSeconds = Math.round((Date.now() - process.uptime() * 1000) / 1000);

export function processMetrics(e: Exposition): void {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  e.counter('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', [
    ['', (cpu.user + cpu.system) / 1e6],
  ]);
  e.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', [['', mem.rss]]);
  e.gauge('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', [
    ['', startTimeSeconds],
  ]);
  e.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use, in bytes.', [['', mem.heapUsed]]);
}
