// A small structured logger: one line per event, `time level [component] message key=value ...`,
// to stderr so stdout stays for command output. WEFT_LOG_LEVEL=debug|info|warn|error.
import { isoTime } from './time.js';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

function fmt(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

export function createLogger(
  component: string,
  opts: { level?: Level; write?: (line: string) => void } = {},
): Logger {
  const min = order[opts.level ?? ((process.env.WEFT_LOG_LEVEL as Level | undefined) || 'info')] ?? 20;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const log = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order[level] < min) return;
    const kv = fields
      ? Object.entries(fields)
          .map(([k, v]) => ` ${k}=${fmt(v)}`)
          .join('')
      : '';
    write(`${isoTime(Date.now())} ${level} [${component}] ${msg}${kv}`);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
    child: (c) => createLogger(`${component}/${c}`, opts),
  };
}
