// Waiting for a config change to reach the proxies: run `weft apply/delete …`, then poll the control
// plane's proxy list (what `weft proxy-status` shows) until the proxies we care about were served a new
// version and ACKed it. Polls the admin API directly: spawning the CLI per poll is slow on small machines.
import assert from 'node:assert/strict';
import { MeshClient } from '../../src/cli/mesh-client.js';
import { waitFor, type RunningMesh } from './weft.js';

export type Versions = Map<string, { served: string; acked: string }>;

export async function proxyVersions(mesh: RunningMesh): Promise<Versions> {
  const client = await MeshClient.connect({ stateDir: mesh.stateDir });
  const { body } = await client.call<{ items: Array<{ id: string; served: string; acked: string }> }>(
    'GET',
    '/apis/v1/proxies',
  );
  return new Map(body.items.map((x) => [x.id, { served: x.served, acked: x.acked }]));
}

/**
 * `weft <args>` (must exit 0), then wait until every proxy id in `watch` runs a version it did not run
 * before and has ACKed it. Returns false (instead of throwing) when that does not happen within
 * `timeoutMs`: a change that does not concern a proxy leaves its version alone, and the requests that
 * follow are the real check.
 */
export async function changeConfig(
  mesh: RunningMesh,
  args: string[],
  watch: string[],
  timeoutMs = 10_000,
): Promise<boolean> {
  const before = await proxyVersions(mesh);
  const r = await mesh.weft(args);
  assert.equal(r.code, 0, `weft ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  try {
    await waitFor(
      `${watch.join(', ')} to ACK the new config`,
      async () => {
        const now = await proxyVersions(mesh);
        return watch.every((id) => {
          const v = now.get(id);
          return v && v.acked === v.served && v.served !== before.get(id)?.served;
        });
      },
      timeoutMs,
    );
    return true;
  } catch {
    return false;
  }
}
