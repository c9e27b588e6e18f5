// The original Host of an ext-authz check that goes through this proxy's own outbound listener. That hop
// routes the check by its absolute-form target (the provider) and would, as RFC 9112 asks of a proxy, replace
// Host with it; Envoy sends the provider the original :authority. So the check carries the original Host in
// a header only this process can mint (a per-process secret), and the outbound request edits put it back.
// An app cannot use the header to choose the Host of its own requests: without the secret it is dropped.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

export const CHECK_HOST_HEADER = 'x-weft-ext-authz-host';
const SECRET = randomBytes(16).toString('hex');

/** The header value for a check whose Host must stay `host`. */
export function checkHostValue(host: string): string {
  return `${SECRET} ${host}`;
}

/** Removes the header from `headers`; the Host it carries when it was minted by this process. */
export function takeCheckHost(headers: IncomingHttpHeaders | OutgoingHttpHeaders): string | undefined {
  const v = headers[CHECK_HOST_HEADER];
  if (v === undefined) return undefined;
  delete headers[CHECK_HOST_HEADER];
  if (typeof v !== 'string' || !v.startsWith(`${SECRET} `)) return undefined;
  return v.slice(SECRET.length + 1) || undefined;
}
