// A proxy whose certificate lapsed while its process was stopped (as over a laptop's night of sleep, or a
// paused VM) gets a new one with a new bootstrap token, and new mTLS connections from it work again:
// from `weft up` over the proxy's IPC channel, or, for a proxy run on its own, from its --token-file once
// a new token (`weft ca token`) is written there. 6 s certificates; the proxy is held with SIGSTOP for longer than that.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RunningMesh, tempDir, waitFor } from './support/weft.js';
import { Proc } from './support/processes.js';
import { tcpTunnel } from './support/tunnel.js';
import { freePort } from '../src/local/ports.js';
import { TCP_ECHO_YAML, clientYaml } from './support/mesh-yaml.js';

const TTL_MS = 6_000;

/** A CONNECT tunnel to tcp-echo through a sidecar's outbound port, carrying a line both ways. */
const tunnel = (outbound: number) => tcpTunnel(outbound, 'ping');

/** Holds a process stopped until its certificate has certainly expired. */
async function stopPastExpiry(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(TTL_MS + 1500);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('a proxy whose certificate lapsed while it was stopped', { timeout: 150_000 }, () => {
  let mesh: RunningMesh;
  let outbound: number;
  let dir: string;

  before(async () => {
    dir = await tempDir();
    outbound = await freePort();
    const file = join(dir, 'mesh.yaml');
    await writeFile(file, `${TCP_ECHO_YAML}\n---\n${clientYaml(outbound)}\n`);
    mesh = await RunningMesh.up([file], ['--workload-cert-ttl', `${TTL_MS / 1000}s`]);
  });

  after(async () => {
    await mesh?.stop();
  });

  test('under weft up: asks weft up for a new token, and its new connections work again', async () => {
    assert.equal(await tunnel(outbound), undefined);
    const client = await mesh.instance('client-0.default');
    await stopPastExpiry(client.proxyPid!);
    const log = async () => readFile(client.logs.proxy, 'utf8');
    let last: string | undefined;
    await waitFor(
      'a tunnel from the resumed proxy',
      async () => (last = await tunnel(outbound)) === undefined,
      30_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}; last: ${last}\n${(await log()).split('\n').slice(-30).join('\n')}`);
    });
    const text = await log();
    assert.match(text, /no longer accepted; asking for a new bootstrap token.*expired at/);
    assert.match(text, /workload certificate re-issued/);
    // It carries on renewing with its new certificate.
    const reissued = text.length;
    await waitFor(
      'a renewal after the re-issue',
      async () => /workload certificate rotated/.test((await log()).slice(reissued)),
      15_000,
    );
  });

  test('run on its own: reads its --token-file again, and says what to do while the token there is spent', async () => {
    // A client Workload applied after `weft up` (which then leaves its proxy to us).
    const lateOutbound = await freePort();
    const extra = join(dir, 'late.yaml');
    await writeFile(extra, clientYaml(lateOutbound).replace(/client/g, 'late-client'));
    const applied = await mesh.weft(['apply', '-f', extra]);
    assert.equal(applied.code, 0, applied.stderr);
    // `weft ca token`, as a user would make one.
    const newToken = async () => {
      const r = await mesh.weft(['ca', 'token', 'late-client', '-n', 'default']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^[\w-]{43}\n$/);
      return r.stdout.trim();
    };
    const unknown = await mesh.weft(['ca', 'token', 'nobody']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no Workload default\/nobody[\s\S]*hint: `weft get workloads`/);
    const tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${await newToken()}\n`);
    const info = JSON.parse(await readFile(join(mesh.stateDir, 'mesh.json'), 'utf8')) as {
      discovery: string;
    };
    const proxy = new Proc(
      [
        'proxy',
        '--workload',
        'late-client',
        '--service-account',
        'late-client',
        '--control-plane',
        info.discovery,
        '--root-cert',
        join(mesh.stateDir, 'ca', 'root-cert.pem'),
        '--token-file',
        tokenFile,
        '--inbound-port',
        '0',
        '--outbound-port',
        String(lateOutbound),
        '--admin-port',
        '0',
        '--metrics-port',
        '0',
      ],
      { WEFT_LOG_LEVEL: 'info' },
    );
    try {
      await proxy.waitOutput(/proxy ready/);
      await waitFor(
        'a tunnel from the late proxy',
        async () => (await tunnel(lateOutbound)) === undefined,
        15_000,
      );
      await stopPastExpiry(proxy.child.pid!);
      // The file still holds the spent token: the proxy says so, with the next step, and keeps trying.
      await proxy.waitOutput(/bootstrap token in .*token was used already/);
      assert.match(proxy.output, /WEFT_ERR_PROXY_CERT_UNRENEWABLE|write a new one there/);
      assert.notEqual(
        await tunnel(lateOutbound),
        undefined,
        'a tunnel from a proxy with an expired certificate',
      );
      await writeFile(tokenFile, `${await newToken()}\n`);
      await proxy.waitOutput(/workload certificate re-issued/, 20_000);
      await waitFor(
        'a tunnel after the re-issue',
        async () => (await tunnel(lateOutbound)) === undefined,
        15_000,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${proxy.output.split('\n').slice(-30).join('\n')}`);
    } finally {
      await proxy.stop();
    }
  });
});
