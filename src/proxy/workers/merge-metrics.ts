// One exposition from several: the agent's own and one per data-plane worker, so a proxy run with
// `--concurrency N` is still one scrape target whose series are the proxy's totals (as Envoy's stats
// sum its worker threads). Counters and histograms add up; a gauge adds up too (requests in flight,
// memory) unless every process reports the same fact (listed below), where the largest is taken.
import { formatValue, type ExpositionFormat } from '../telemetry/prom-text.js';

/** Gauges that describe the proxy rather than a process's share of its work. */
const SAME_IN_EVERY_PROCESS = new Set([
  'weft_proxy_config_info',
  'weft_proxy_certificate_expiry_seconds',
  'weft_proxy_certificate_expiry_timestamp_seconds',
  'weft_proxy_control_plane_connected',
  'weft_upstream_endpoints_healthy',
  'weft_proxy_metric_series',
]);

interface Family {
  header: string[]; // the # HELP and # TYPE lines as first seen
  take: 'sum' | 'max' | 'min';
  series: Map<string, number>; // sample line up to the value -> value
}

function familyOf(line: string): string {
  return line.slice(7).split(' ', 1)[0]!; // after "# HELP " or "# TYPE "
}

export function mergeExpositions(texts: string[], format: ExpositionFormat): string {
  const families = new Map<string, Family>();
  for (const text of texts) {
    let current: Family | undefined;
    for (const line of text.split('\n')) {
      if (line === '' || line === '# EOF') continue;
      if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) {
        const name = familyOf(line);
        current = families.get(name);
        if (!current) {
          const take = SAME_IN_EVERY_PROCESS.has(name)
            ? 'max'
            : name === 'process_start_time_seconds'
              ? 'min'
              : 'sum';
          families.set(name, (current = { header: [], take, series: new Map() }));
        }
        if (current.header.length < 2 && !current.header.some((h) => h.slice(0, 7) === line.slice(0, 7)))
          current.header.push(line);
        continue;
      }
      if (line.startsWith('#') || !current) continue;
      const space = line.lastIndexOf(' ');
      const key = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      const seen = current.series.get(key);
      current.series.set(
        key,
        seen === undefined
          ? value
          : current.take === 'sum'
            ? seen + value
            : current.take === 'max'
              ? Math.max(seen, value)
              : Math.min(seen, value),
      );
    }
  }
  const out: string[] = [];
  for (const f of families.values()) {
    out.push(...f.header);
    for (const [key, value] of f.series) out.push(`${key} ${formatValue(value)}`);
  }
  return out.join('\n') + (format === 'openmetrics' ? '\n# EOF\n' : '\n');
}
