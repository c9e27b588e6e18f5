// A small reader for the Prometheus text the proxies serve (0.0.4): only the sample lines whose metric
// name the caller asks for, labels as a map. Enough for the dashboard's own aggregation, so no
// Prometheus server is needed to look at a mesh.

export interface Sample {
  name: string;
  /** The rendered label set as it appeared (a stable key for one series of one proxy). */
  key: string;
  labels: Record<string, string>;
  value: number;
}

function unescape(v: string): string {
  return v.replace(/\\(["\\n])/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

/** Parses `a="x",b="y\"z"` into a map. */
export function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out[m[1]!] = unescape(m[2]!);
  return out;
}

/** The samples of the wanted metrics (full sample names, e.g. `istio_requests_total`, `x_bucket`). */
export function parseSamples(text: string, wanted: ReadonlySet<string>): Sample[] {
  const out: Sample[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.length === 0 || line.charCodeAt(0) === 35 /* # */) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
    if (nameEnd <= 0) continue;
    const name = line.slice(0, nameEnd);
    if (!wanted.has(name)) continue;
    let key = '';
    let rest: string;
    if (nameEnd === brace) {
      const close = line.lastIndexOf('}');
      if (close < brace) continue;
      key = line.slice(brace + 1, close);
      rest = line.slice(close + 1).trim();
    } else rest = line.slice(nameEnd + 1).trim();
    const value = Number(rest.split(' ')[0]);
    if (!Number.isFinite(value)) continue;
    out.push({ name, key, labels: parseLabels(key), value });
  }
  return out;
}
