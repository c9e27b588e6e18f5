// Dates as text from the UTC getters instead of Date#toISOString and #toUTCString (and JSON.stringify
// of a Date, which calls toISOString): the first call of either in a process maps ~0.8 MB more of the
// `node` binary (V8's date formatting) into memory, which every sidecar would then keep for its log
// lines; the getters cost nothing of the kind. Years outside 1000–9999 go to the built-ins (they never
// occur in logs, and there the built-ins' formats for such years stay exact).

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
const pad3 = (n: number) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;
const ordinaryYear = (y: number) => y >= 1000 && y <= 9999;

/** As `new Date(ms).toISOString()`: 2026-12-07T11:08:18.961Z. */
export function isoTime(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!ordinaryYear(y)) return d.toISOString();
  return (
    `${y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}.${pad3(d.getUTCMilliseconds())}Z`
  );
}

/** As `new Date(ms).toUTCString()`, an HTTP date (RFC 9110 IMF-fixdate): Mon, 07 Dec 2026 11:08:06 GMT. */
export function httpDate(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!ordinaryYear(y)) return d.toUTCString();
  return (
    `${DAYS[d.getUTCDay()]!}, ${pad2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]!} ${y} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} GMT`
  );
}

/** isoTime of a Date that may be absent (a certificate's notAfter before there is one). */
export const optionalIso = (d: Date | undefined): string | undefined =>
  d ? isoTime(d.getTime()) : undefined;
