// A data-plane worker (`weft proxy --concurrency N`): one DataPlane in its own process, sharing the
// proxy's listening sockets with its siblings through node:cluster. The agent sends it the workload
// certificate and every snapshot; it answers with whether the snapshot applied (the agent ACKs only
// when every worker did), its metrics when scraped, and tapped requests while someone taps.
import { WorkloadIdentity } from '../identity/certificates.js';
import { DataPlane } from '../data-plane.js';
import { createLogger } from '../../lib/logger.js';
import { errorMessage } from '../../lib/errors.js';
import { channelTapSource, type TapEvent } from '../listeners/tap.js';
import type { FromWorker, ToWorker } from './messages.js';

/** A pipe write of at most PIPE_BUF bytes is atomic, so sibling workers never interleave inside a line. */
const ATOMIC_WRITE = 4096;

export function writeLines(lines: string, write: (chunk: string) => void): void {
  const text = lines + '\n';
  if (text.length <= ATOMIC_WRITE / 4 || Buffer.byteLength(text) <= ATOMIC_WRITE) {
    write(text);
    return;
  }
  let chunk = '';
  for (const line of lines.split('\n')) {
    if (chunk && Buffer.byteLength(chunk) + Buffer.byteLength(line) + 1 > ATOMIC_WRITE) {
      write(chunk);
      chunk = '';
    }
    chunk += line + '\n';
  }
  if (chunk) write(chunk);
}

function send(m: FromWorker): void {
  process.send?.(m);
}

export function runWorker(): void {
  const identity = new WorkloadIdentity();
  let plane: DataPlane | undefined;
  let tapBatch: TapEvent[] = [];
  const flushTap = () => {
    if (tapBatch.length) send({ t: 'tap', events: tapBatch });
    tapBatch = [];
  };
  const onTap = (e: TapEvent) => {
    if (tapBatch.push(e) === 1) setImmediate(flushTap);
  };
  let tapSource: ReturnType<typeof channelTapSource> | undefined;

  process.on('message', (raw) => {
    const m = raw as ToWorker;
    switch (m.t) {
      case 'init': {
        const s = m.settings;
        const log = createLogger(`proxy ${s.name} worker ${s.index}`);
        identity.set(m.identity);
        plane = new DataPlane({
          kind: s.kind,
          identity,
          bind: s.bind,
          outboundPort: s.outboundPort,
          inboundPort: s.inboundPort,
          appHost: s.appHost,
          appPorts: s.appPorts,
          accessLog: s.accessLog ? (lines) => writeLines(lines, (c) => process.stdout.write(c)) : () => {},
          log,
        });
        tapSource = channelTapSource(() => plane?.current()?.snapshot.proxy);
        plane.start(m.snapshot).then(
          () => send({ t: 'started', ports: plane!.ports }),
          (e: unknown) => send({ t: 'failed', error: errorMessage(e) }),
        );
        return;
      }
      case 'identity':
        identity.set(m.identity);
        return;
      case 'snapshot':
        if (!plane) return send({ t: 'applied', seq: m.seq, error: 'worker not started' });
        plane.apply(m.snapshot).then(
          () => send({ t: 'applied', seq: m.seq }),
          (e: unknown) => send({ t: 'applied', seq: m.seq, error: errorMessage(e) }),
        );
        return;
      case 'metrics':
        send({ t: 'metrics', seq: m.seq, text: plane?.renderMetrics(m.format) ?? '' });
        return;
      case 'tap':
        if (m.on) tapSource?.subscribe(onTap);
        else tapSource?.unsubscribe(onTap);
        return;
      case 'stop':
        void (plane?.stop() ?? Promise.resolve()).finally(() => {
          send({ t: 'stopped' });
          process.exit(0);
        });
        return;
    }
  });
  // The agent is gone (crashed or killed): a worker never outlives it.
  process.on('disconnect', () => process.exit(0));
  send({ t: 'listening' });
}
