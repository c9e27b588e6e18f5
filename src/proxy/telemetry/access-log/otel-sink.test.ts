// The envoyOtelAls sink without a network: the SDK's in-memory exporter (or one that fails, or never
// answers) in place of OTLP/gRPC. What a LogRecord carries, bounded queue drops, failed exports, the
// access logs' wiring and metrics, and that the SDK loads only when a provider needs it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ReadableLogRecord, LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { ProxySnapshot } from '../../../model/snapshot.js';
import type { AccessLogOtel, AccessLogSettings } from '../../../model/access-log.js';
import { publishRequest } from '../events.js';
import { record } from '../testing.js';
import { Exposition } from '../prom-text.js';
import { AccessLogs } from './logger.js';
import { compileAttributes, OtelSink } from './otel-sink.js';

const TARGET: AccessLogOtel = {
  host: '127.0.0.1',
  port: 4317,
  logName: 'otel_envoy_accesslog',
  attributes: { code: '%RESPONSE_CODE%', flags: '%RESPONSE_FLAGS%', team: 'payments', n: 3 },
};

/** Records what it is given; `answer` decides each export's outcome (undefined: held until `release`). */
function exporter(answer: () => { code: number; error?: Error } | undefined = () => ({ code: 0 })) {
  const got: ReadableLogRecord[] = [];
  const held: Array<() => void> = [];
  let holding = true;
  const e: LogRecordExporter = {
    export(records, done) {
      got.push(...records);
      const r = answer();
      if (r) setImmediate(() => done(r));
      else if (holding) held.push(() => done({ code: 0 }));
      else done({ code: 0 });
    },
    shutdown: async () => {},
    forceFlush: async () => {},
  };
  /** Answers the held exports, and any later one at once. */
  const release = () => {
    holding = false;
    for (const h of held.splice(0)) h();
  };
  return { e, got, release };
}

test('a LogRecord: body = the formatted line, attributes = the labels, timestamp = the start, scope = log name', async () => {
  const { e, got } = exporter();
  const sink = new OtelSink(TARGET, { exporter: e });
  sink.emit('GET /x 503', record({ status: 503, flags: 'UF', startTime: 1_700_000_000_123 }));
  await sink.flush();
  assert.equal(got.length, 1);
  const r = got[0]!;
  assert.equal(r.body, 'GET /x 503');
  assert.deepEqual(r.attributes, { code: '503', flags: 'UF', team: 'payments', n: 3 });
  assert.deepEqual(r.hrTime, [1_700_000_000, 123_000_000]);
  assert.equal(r.instrumentationScope.name, 'otel_envoy_accesslog');
  assert.deepEqual(r.resource.attributes, {}, 'no built-in labels (istiod sets disable_builtin_labels)');
  assert.deepEqual(sink.stats, { exported: 1, droppedQueueFull: 0, droppedExportFailed: 0 });
  await sink.shutdown();
});

test('unknown values are "-" in attributes, as in Envoy text formats', () => {
  assert.deepEqual(
    compileAttributes({ up: '%UPSTREAM_HOST%', both: '%RESPONSE_CODE%/%UPSTREAM_HOST%' })(record()),
    {
      up: '-',
      both: '200/-',
    },
  );
});

test('a full queue drops new entries and counts them; the data path never waits', async () => {
  const { e, release } = exporter(() => undefined); // a collector that does not answer (yet)
  const sink = new OtelSink(TARGET, {
    exporter: e,
    queue: {
      maxQueueSize: 4,
      maxExportBatchSize: 2,
      scheduledDelayMillis: 60_000,
      exportTimeoutMillis: 60_000,
    },
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < 100; i++) sink.emit(`line ${i}`, record());
  const perEntryUs = Number(process.hrtime.bigint() - start) / 1000 / 100;
  // 2 went out in the first batch (that never returns), 4 wait, the rest are dropped.
  assert.ok(sink.stats.droppedQueueFull >= 94, JSON.stringify(sink.stats));
  assert.ok(perEntryUs < 500, `emit took ${perEntryUs} µs per entry`);
  release();
  await sink.shutdown();
});

test('a failed export drops its batch, counted, and reports why', async () => {
  const errors: unknown[] = [];
  const { e } = exporter(() => ({ code: 1, error: new Error('14 UNAVAILABLE: connect ECONNREFUSED') }));
  const sink = new OtelSink(TARGET, { exporter: e, onError: (err) => errors.push(err) });
  sink.emit('a', record());
  sink.emit('b', record());
  await sink.flush().catch(() => {});
  assert.equal(sink.stats.droppedExportFailed, 2);
  assert.equal(sink.stats.exported, 0);
  assert.match(String(errors[0]), /UNAVAILABLE/);
  await sink.shutdown();
});

const snap = (accessLog?: AccessLogSettings) => ({ accessLog }) as unknown as ProxySnapshot;

test('AccessLogs: an envoyOtelAls sink per provider, filtered like the others, with metrics', async () => {
  const { e, got } = exporter();
  const warnings: string[] = [];
  const a = new AccessLogs({ stdout: () => {}, warn: (m) => warnings.push(m), otel: { exporter: e } });
  const otel = {
    provider: 'otel',
    path: 'grpc://127.0.0.1:4317',
    format: { kind: 'text' as const, text: '%RESPONSE_CODE% %REQ(:PATH)%' },
    otel: TARGET,
    filter: 'response.code >= 400',
  };
  const unsupported = {
    provider: 'als',
    path: '',
    format: { kind: 'text' as const, text: '' },
    unsupported: 'envoyHttpAls',
  };
  const settings = { client: [otel, unsupported], server: [otel, unsupported] };
  a.commit(a.prepare(snap(settings)));
  a.commit(a.prepare(snap(settings))); // the same snapshot again: one warning, the same sink
  assert.equal(warnings.length, 1);
  assert.match(
    warnings[0]!,
    /access log provider "als" \(envoyHttpAls\): Envoy's gRPC access log service is not implemented/,
  );
  publishRequest(() => record({ status: 200, path: '/ok' }));
  publishRequest(() => record({ status: 503, flags: 'UH', path: '/bad' }));
  publishRequest(() =>
    record({ status: 404, flags: 'NR', path: '/nr', reporter: 'destination', listener: 'inbound' }),
  );
  await a.flushOtel();
  assert.deepEqual(
    got.map((r) => r.body),
    ['503 /bad', '404 /nr'],
  );
  const x = new Exposition('text');
  a.metrics(x);
  const text = x.text();
  assert.match(text, /weft_access_log_otel_records_exported_total\{provider="otel"\} 2/);
  assert.match(text, /weft_access_log_otel_records_dropped_total\{provider="otel",reason="queue_full"\} 0/);
  a.stop();
});

test('a bad attribute format throws at prepare (the snapshot is NACKed), before the SDK loads', () => {
  const a = new AccessLogs({ stdout: () => {}, warn: () => {} });
  const bad = {
    provider: 'otel',
    path: 'grpc://127.0.0.1:4317',
    format: { kind: 'text' as const, text: '' },
    otel: { ...TARGET, attributes: { x: '%NOT_AN_OP%' } },
  };
  assert.throws(
    () => a.prepare(snap({ client: [bad], server: [] })),
    /access log provider "otel": .*%NOT_AN_OP%/,
  );
});

test('the OpenTelemetry logs SDK and gRPC exporter load only once a provider needs them', () => {
  const logger = fileURLToPath(new URL('./logger.js', import.meta.url));
  const script = `
    import { createRequire } from 'node:module';
    const { AccessLogs } = await import(${JSON.stringify(logger)});
    const cache = createRequire(import.meta.url).cache;
    const loaded = () => Object.keys(cache).some((k) => k.includes('sdk-logs') || k.includes('exporter-logs-otlp-grpc'));
    const a = new AccessLogs({ stdout: () => {}, warn: () => {} });
    const file = { provider: 'envoy', path: '/dev/stdout', format: { kind: 'text', text: '' } };
    a.commit(a.prepare({ accessLog: { client: [file], server: [file] } }));
    const before = loaded();
    const otel = { ...file, provider: 'otel', path: 'grpc://127.0.0.1:9', otel: { host: '127.0.0.1', port: 9, logName: 'x', attributes: {} } };
    a.commit(a.prepare({ accessLog: { client: [otel], server: [] } }));
    console.log(JSON.stringify({ before, after: loaded() }));
    a.stop();
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop()!), { before: false, after: true });
});
