// A tiny authoritative DNS server over UDP for tests: A and AAAA answers from a table the test can
// change, NXDOMAIN for names it does not know. Enough for Node's c-ares resolver (RFC 1035 wire format,
// one question per query, no compression in the question).
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface DnsServer {
  /** `host:port` for WEFT_DNS_SERVERS. */
  address: string;
  /** name -> addresses (IPv4 and IPv6 mixed; each query type gets its family). */
  records: Map<string, string[]>;
  queries: string[];
  close(): Promise<void>;
}

function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (msg[i]! !== 0) {
    const len = msg[i]!;
    labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
    i += len + 1;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

function ipBytes(addr: string): Buffer {
  if (net.isIPv4(addr)) return Buffer.from(addr.split('.').map(Number));
  const [head = '', tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  groups.forEach((g, k) => b.writeUInt16BE(parseInt(g, 16), k * 2));
  return b;
}

function answer(query: Buffer, records: Map<string, string[]>, seen: string[]): Buffer {
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  seen.push(`${name} ${qtype === 28 ? 'AAAA' : qtype === 1 ? 'A' : qtype}`);
  const known = records.get(name);
  const family = qtype === 28 ? 6 : qtype === 1 ? 4 : 0;
  const addrs = (known ?? []).filter((a) => net.isIP(a) === family);
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  header.writeUInt16BE(0x8400 | (known ? 0 : 3), 2); // response, authoritative, NOERROR or NXDOMAIN
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addrs.length, 6);
  const question = query.subarray(12, end + 4);
  const rrs = addrs.map((a) => {
    const data = ipBytes(a);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(qtype, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(1, 6); // TTL 1 s
    rr.writeUInt16BE(data.length, 10);
    return Buffer.concat([rr, data]);
  });
  return Buffer.concat([header, question, ...rrs]);
}

export async function startDnsServer(records: Record<string, string[]> = {}): Promise<DnsServer> {
  const table = new Map(Object.entries(records));
  const queries: string[] = [];
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    try {
      sock.send(answer(msg, table, queries), rinfo.port, rinfo.address);
    } catch {
      // A malformed query gets no answer.
    }
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const { port } = sock.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    records: table,
    queries,
    close: () => new Promise<void>((r) => sock.close(() => r())),
  };
}
