// Output helpers shared by commands: tables for people, -o json|yaml for scripts.
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml' | 'wide';

export function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join(''))
    .join('\n');
}

export function printStructured(data: unknown, format: OutputFormat): void {
  if (format === 'json') process.stdout.write(JSON.stringify(data, null, 2) + '\n');
  else process.stdout.write(stringify(data));
}

export function age(iso: string | undefined): string {
  if (!iso) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}
