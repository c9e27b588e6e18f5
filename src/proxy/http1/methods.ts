// Request method names by llhttp's method number. The parser reports a number; node:http maps it with
// a table that node does not export (`allMethods`), so the table is read off the parser itself once:
// each method node knows is parsed and its number noted.
import { METHODS } from 'node:http';
import { HTTPParser } from '../upstream/llhttp.js';

type Probe = InstanceType<typeof HTTPParser> & { execute(b: Buffer): number | Error };

const names: string[] = [];

function probe(): void {
  const p = new HTTPParser() as Probe;
  let seen = -1;
  p[HTTPParser.kOnHeadersComplete] = (_a: number, _b: number, _h: string[], method: number) => {
    seen = method;
    return 0;
  };
  p[HTTPParser.kOnMessageComplete] = () => {};
  for (const m of METHODS) {
    seen = -1;
    p.initialize(HTTPParser.REQUEST, {}, 0, 0);
    p.execute(Buffer.from(`${m} ${m === 'CONNECT' ? 'h:1' : '/'} HTTP/1.1\r\nhost: h\r\n\r\n`, 'latin1'));
    if (seen >= 0) names[seen] = m;
  }
  p.close();
  if (names[1] !== 'GET' || names[3] !== 'POST')
    throw new Error(`this Node.js (${process.version}) numbers HTTP methods in a way Weft does not know`);
}
probe();

export function methodName(n: number): string {
  return names[n] ?? 'UNKNOWN';
}
