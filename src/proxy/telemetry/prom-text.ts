// Prometheus exposition, written by hand: text format 0.0.4 (what Envoy and istiod serve) and
// OpenMetrics 1.0.0 (what Prometheus asks for first). The formats are small and stable, and writing
// them directly lets series keep their label text pre-rendered, so a scrape is string joins and the
// request path never touches a metrics library.
import type { Histogram } from './histogram.js';

export type ExpositionFormat = 'text' | 'openmetrics';

export const CONTENT_TYPES: Record<ExpositionFormat, string> = {
  text: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** OpenMetrics when the client accepts it at least as much as plain text (Prometheus does); else text. */
export function negotiate(accept: string | undefined): ExpositionFormat {
  if (!accept) return 'text';
  let om = 0;
  let text = 0;
  for (const part of accept.split(',')) {
    const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    if (!(q > 0)) continue;
    if (type === 'application/openmetrics-text') om = Math.max(om, q);
    else if (type === 'text/plain' || type === '*/*' || type === 'text/*') text = Math.max(text, q);
  }
  return om > 0 && om >= text ? 'openmetrics' : 'text';
}

export function escapeLabelValue(v: string): string {
  return /[\\"\n]/.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `a="x",b="y"` (no braces): rendered once per series, then reused by every scrape. */
export function renderLabels(pairs: ReadonlyArray<readonly [string, string]>): string {
  let out = '';
  for (const [k, v] of pairs) {
    if (!LABEL_NAME.test(k) || k.startsWith('__')) throw new Error(`invalid label name ${k}`);
    out += `${out ? ',' : ''}${k}="${escapeLabelValue(v)}"`;
  }
  return out;
}

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** OpenMetrics wants `le` in canonical float form (client_golang writes "1.0", not "1"). */
function formatLe(bound: number, format: ExpositionFormat): string {
  const s = formatValue(bound);
  return format === 'openmetrics' && /^-?\d+$/.test(s) ? `${s}.0` : s;
}

export type Samples = Iterable<readonly [labels: string, value: number]>;

export class Exposition {
  private readonly out: string[] = [];

  constructor(readonly format: ExpositionFormat) {}

  private header(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): void {
    const escaped =
      this.format === 'openmetrics'
        ? help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
        : help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
    this.out.push(`# HELP ${name} ${escaped}`, `# TYPE ${name} ${type}`);
  }

  private sample(name: string, labels: string, value: number): void {
    this.out.push(`${labels ? `${name}{${labels}}` : name} ${formatValue(value)}`);
  }

  /** In OpenMetrics a counter family is named without `_total` and its sample with it. */
  counter(name: string, help: string, samples: Samples): void {
    let family = name;
    let sampleName = name;
    if (this.format === 'openmetrics') {
      family = name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
      sampleName = `${family}_total`;
    }
    this.header(family, 'counter', help);
    for (const [labels, v] of samples) this.sample(sampleName, labels, v);
  }

  gauge(name: string, help: string, samples: Samples): void {
    this.header(name, 'gauge', help);
    for (const [labels, v] of samples) this.sample(name, labels, v);
  }

  histogram(name: string, help: string, series: Iterable<readonly [labels: string, h: Histogram]>): void {
    this.header(name, 'histogram', help);
    for (const [labels, h] of series) {
      const cum = h.cumulative();
      const sep = labels ? ',' : '';
      for (let i = 0; i < h.bounds.length; i++)
        this.out.push(`${name}_bucket{${labels}${sep}le="${formatLe(h.bounds[i]!, this.format)}"} ${cum[i]}`);
      this.out.push(`${name}_bucket{${labels}${sep}le="+Inf"} ${h.count}`);
      // OpenMetrics orders a histogram point as buckets, _count, _sum; text format readers accept either.
      this.sample(`${name}_count`, labels, h.count);
      this.sample(`${name}_sum`, labels, h.sum);
    }
  }

  text(): string {
    return this.out.join('\n') + (this.format === 'openmetrics' ? '\n# EOF\n' : '\n');
  }
}
