/* eslint-disable no-control-regex -- the test reads the terminal escape codes the table writes */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveTable, renderTable } from './live-table.js';
import { instancePhase, instanceRow, type StatusRow } from './status-rows.js';
import type { InstanceInfo } from './instance.js';

const row = (name: string, phase: StatusRow['phase'], detail = ''): StatusRow => ({
  name,
  kind: 'sidecar',
  phase,
  ports: 'app=20001 in=33001 out=33002 admin=33003',
  detail,
});

function sink(isTTY: boolean, columns = 200) {
  const out = { isTTY, columns, text: '', write: (s: string) => (out.text += s) };
  return out;
}

test('the table aligns columns and cuts lines to the terminal width', () => {
  const lines = renderTable([row('productpage-v1-0.default', 'ready'), row('a-0.default', 'config')]);
  assert.match(lines[0]!, /^NAME\s+KIND\s+STATE\s+PORTS\s+DETAIL$/);
  assert.equal(lines[1]!.indexOf('✔ ready'), lines[2]!.indexOf('… config'));
  const narrow = renderTable(
    [row('x-0.default', 'failed', 'app exited (code 1); see .weft/logs/x.app.log')],
    40,
  );
  assert.ok(narrow.every((l) => l.length <= 40));
  assert.ok(narrow[1]!.endsWith('…'));
});

test('colour goes around the state cell only, so plain text and alignment stay', () => {
  const [, coloured] = renderTable([row('a-0.default', 'failed', 'boom')], Infinity, true);
  assert.match(coloured!, /\x1b\[31m✖ failed\x1b\[0m/);
  assert.equal(coloured!.replace(/\x1b\[\d+m/g, ''), renderTable([row('a-0.default', 'failed', 'boom')])[1]);
});

test('on a terminal each update moves the cursor back up and rewrites the table in place', () => {
  const out = sink(true);
  const t = new LiveTable(out, {});
  t.update([row('a-0.default', 'starting')]);
  assert.doesNotMatch(out.text, /\x1b\[\d+A/, 'the first draw does not move up');
  out.text = '';
  t.update([row('a-0.default', 'starting')]);
  assert.equal(out.text, '', 'nothing is written when nothing changed');
  t.update([row('a-0.default', 'ready'), row('b-0.default', 'certificate')]);
  assert.match(out.text, /^\x1b\[2A\r/, 'up over the two lines drawn before');
  assert.equal(out.text.match(/\x1b\[2K/g)?.length, 3, 'header and two rows rewritten');
  t.freeze();
  out.text = '';
  t.update([row('a-0.default', 'exited', 'app exited (code 1)'), row('b-0.default', 'certificate')]);
  assert.equal(out.text, '  ✖ a-0.default exited: app exited (code 1)\n', 'after freezing: lines, no redraw');
});

test('off a terminal: one plain line per phase change, no escape codes', () => {
  const out = sink(false);
  const t = new LiveTable(out, {});
  t.update([row('a-0.default', 'starting')]);
  t.update([row('a-0.default', 'starting')]);
  t.update([row('a-0.default', 'config')]);
  t.update([row('a-0.default', 'ready')]);
  assert.equal(out.text, '  … a-0.default starting\n  … a-0.default config\n  ✔ a-0.default ready\n');
});

test('a starting proxy shows what the control plane saw of it; a failure names the log to read', () => {
  const info: InstanceInfo = {
    id: 'r-0.default',
    workload: 'r',
    namespace: 'default',
    kind: 'sidecar',
    state: 'starting',
    appPorts: { 9080: 20001 },
    logs: { proxy: '/m/.weft/logs/r-0.default.proxy.log', app: '/m/.weft/logs/r-0.default.app.log' },
  };
  assert.equal(instancePhase(info, { certificate: false, connected: false }), 'starting');
  assert.equal(instancePhase(info, { certificate: true, connected: false }), 'certificate');
  assert.equal(instancePhase(info, { certificate: true, connected: true }), 'config');
  assert.equal(
    instancePhase({ ...info, state: 'proxy-ready' }, { certificate: true, connected: true }),
    'app starting',
  );
  const r = instanceRow(
    { ...info, state: 'exited', detail: 'app exited (code 1); its proxy stopped' },
    { certificate: true, connected: false },
    '/m',
  );
  assert.equal(r.detail, 'app exited (code 1); its proxy stopped; see .weft/logs/r-0.default.app.log');
  const gw = instanceRow(
    {
      ...info,
      kind: 'gateway',
      appPorts: {},
      state: 'ready',
      ports: { inbound: 0, outbound: 0, admin: 30001 },
    },
    { certificate: true, connected: true, listeners: [443, 8080] },
    '/m',
  );
  assert.equal(gw.ports, 'listen=443,8080 admin=30001', 'a gateway shows the ports it listens on');
  const stuck = instanceRow(
    { ...info, state: 'proxy-ready' },
    { certificate: true, connected: true },
    '/m',
    true,
  );
  assert.equal(
    stuck.detail,
    'see .weft/logs/r-0.default.app.log',
    'still starting once the wait is over: where to look',
  );
  const early = instanceRow(info, { certificate: false, connected: false }, '/m', true);
  assert.equal(early.detail, 'see .weft/logs/r-0.default.proxy.log');
});

test('a dumb terminal gets plain lines; NO_COLOR keeps the redraw but drops the colour', () => {
  const dumb = sink(true);
  new LiveTable(dumb, { TERM: 'dumb' }).update([row('a-0.default', 'ready')]);
  assert.equal(dumb.text, '  ✔ a-0.default ready\n');
  const plain = sink(true);
  new LiveTable(plain, { NO_COLOR: '1' }).update([row('a-0.default', 'failed', 'boom')]);
  assert.match(plain.text, /\x1b\[2K/);
  assert.doesNotMatch(plain.text, /\x1b\[31m/);
});
