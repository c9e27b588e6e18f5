// `--prometheus-url` for `weft up` and `weft control-plane`: the flag wins over WEFT_PROMETHEUS_URL.
import { ErrorCodes, WeftError } from '../lib/errors.js';

export const PROMETHEUS_OPTION = [
  '--prometheus-url <url>',
  "dashboard golden metrics from this Prometheus instead of scraping the proxies (default: $WEFT_PROMETHEUS_URL; '' = the proxies)",
] as const;

/** The Prometheus base URL to use, or undefined to scrape the proxies; a bad URL stops the command. */
export function prometheusUrl(
  flag: string | undefined,
  env = process.env.WEFT_PROMETHEUS_URL,
): string | undefined {
  const url = flag ?? env;
  if (!url) return undefined;
  let ok = false;
  try {
    ok = /^https?:$/.test(new URL(url).protocol);
  } catch {
    ok = false;
  }
  if (!ok)
    throw new WeftError(
      ErrorCodes.CONFIG_INVALID,
      `${flag !== undefined ? '--prometheus-url' : 'WEFT_PROMETHEUS_URL'}: not an http(s) URL: ${url}`,
      'give the base URL of a Prometheus server, e.g. http://127.0.0.1:9090',
    );
  return url;
}
