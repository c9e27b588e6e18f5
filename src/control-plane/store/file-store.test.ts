// The file-backed config store with the real bookinfo config: apply outcomes, change events, atomic files
// that survive a restart, and deletes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadPaths } from '../../config/load.js';
import { fixture, projectRoot } from '../../config/testing.js';
import { formatProblem, resourceKey, type Resource } from '../../config/types.js';
import { FileStore } from './file-store.js';

const SERVICES = path.join(projectRoot(), 'examples/bookinfo/services.yaml');
const DR_ALL = fixture('istio-bookinfo/destination-rule-all.yaml');
const VS_90_10 = fixture('istio-bookinfo/virtual-service-reviews-90-10.yaml');
const VS_JASON = fixture('istio-bookinfo/virtual-service-reviews-jason-v2-v3.yaml');

async function load(...paths: string[]): Promise<Resource[]> {
  const { resources, problems } = await loadPaths(paths);
  const errors = problems.filter((p) => p.severity === 'error');
  assert.deepEqual(errors, [], errors.map(formatProblem).join('\n'));
  return resources;
}

/** A fresh state dir, removed when the test ends. */
async function stateDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Records the store's change events. */
function changes(store: FileStore): number[] {
  const seen: number[] = [];
  store.on('change', (rev: number) => seen.push(rev));
  return seen;
}

/** A resource as data, without where it was read from. */
function data(r: Resource | undefined): unknown {
  assert.ok(r, 'no resource');
  const { source: _source, ...rest } = r;
  return JSON.parse(JSON.stringify(rest));
}

const files = async (dir: string) => (await readdir(path.join(dir, 'resources'))).sort();

test('apply: created, then unchanged, then configured; one change event per batch that changed something', async (t) => {
  const dir = await stateDir(t);
  const store = await FileStore.open(dir);
  const events = changes(store);
  assert.equal(store.revision, 0);
  assert.deepEqual(store.list(), []);

  const services = await load(SERVICES);
  const created = await store.apply(services);
  assert.deepEqual(created, [
    { key: 'Service/default/details', outcome: 'created' },
    { key: 'Service/default/ratings', outcome: 'created' },
    { key: 'Service/default/reviews', outcome: 'created' },
    { key: 'Service/default/productpage', outcome: 'created' },
  ]);
  assert.equal(store.revision, 1);
  assert.deepEqual(events, [1]);

  // The same content again, even read afresh from disk, changes nothing and says nothing.
  const again = await store.apply(await load(SERVICES));
  assert.deepEqual(
    again.map((r) => r.outcome),
    ['unchanged', 'unchanged', 'unchanged', 'unchanged'],
  );
  assert.equal(store.revision, 1);
  assert.deepEqual(events, [1]);

  // Where a resource was read from is not part of its content.
  const moved = services.map((r) => ({ ...r, source: { file: 'elsewhere.yaml', line: 42 } }));
  assert.ok((await store.apply(moved)).every((r) => r.outcome === 'unchanged'));
  const noSource = services.map((r) => data(r) as Resource);
  assert.ok((await store.apply(noSource)).every((r) => r.outcome === 'unchanged'));
  assert.deepEqual(events, [1]);

  // 90-10, then the jason rule under the same name: configured.
  const [vs9010] = await load(VS_90_10);
  const [vsJason] = await load(VS_JASON);
  assert.deepEqual(await store.apply([vs9010!]), [
    { key: 'VirtualService/default/reviews', outcome: 'created' },
  ]);
  assert.deepEqual(await store.apply([vsJason!]), [
    { key: 'VirtualService/default/reviews', outcome: 'configured' },
  ]);
  assert.deepEqual(data(store.get('VirtualService', 'default', 'reviews')), data(vsJason));
  assert.equal(store.revision, 3);
  assert.deepEqual(events, [1, 2, 3]);

  // A mixed batch reports each resource in order and fires once.
  const drs = await load(DR_ALL);
  const mixed = await store.apply([services[0]!, vs9010!, ...drs]);
  assert.deepEqual(mixed, [
    { key: 'Service/default/details', outcome: 'unchanged' },
    { key: 'VirtualService/default/reviews', outcome: 'configured' },
    { key: 'DestinationRule/default/productpage', outcome: 'created' },
    { key: 'DestinationRule/default/reviews', outcome: 'created' },
    { key: 'DestinationRule/default/ratings', outcome: 'created' },
    { key: 'DestinationRule/default/details', outcome: 'created' },
  ]);
  assert.deepEqual(events, [1, 2, 3, 4]);
  assert.equal(store.revision, 4);

  // An empty apply is not a change.
  assert.deepEqual(await store.apply([]), []);
  assert.deepEqual(events, [1, 2, 3, 4]);
});

test('a changed label or spec field is a change; metadata.namespace makes a different resource', async (t) => {
  const store = await FileStore.open(await stateDir(t));
  const [reviews] = await load(SERVICES).then((rs) => rs.filter((r) => r.metadata.name === 'reviews'));
  assert.ok(reviews?.kind === 'Service');
  await store.apply([reviews]);
  const relabelled = { ...reviews, metadata: { ...reviews.metadata, labels: { app: 'reviews', tier: 'x' } } };
  assert.deepEqual(await store.apply([relabelled]), [
    { key: 'Service/default/reviews', outcome: 'configured' },
  ]);
  const newPort = { ...relabelled, spec: { ...relabelled.spec, ports: [{ port: 9081, name: 'http' }] } };
  assert.deepEqual(await store.apply([newPort]), [{ key: 'Service/default/reviews', outcome: 'configured' }]);
  const otherNs = { ...newPort, metadata: { ...newPort.metadata, namespace: 'staging' } };
  assert.deepEqual(await store.apply([otherNs]), [{ key: 'Service/staging/reviews', outcome: 'created' }]);
  assert.equal(store.list().length, 2);
});

test('one JSON file per resource, no temp files left, readable only by the owner', async (t) => {
  const dir = await stateDir(t);
  const store = await FileStore.open(dir);
  const resources = await load(SERVICES, DR_ALL, VS_90_10);
  await store.apply(resources);
  await store.apply(await load(VS_JASON)); // a rewrite of an existing file
  assert.deepEqual(await files(dir), [
    'DestinationRule_default_details.json',
    'DestinationRule_default_productpage.json',
    'DestinationRule_default_ratings.json',
    'DestinationRule_default_reviews.json',
    'Service_default_details.json',
    'Service_default_productpage.json',
    'Service_default_ratings.json',
    'Service_default_reviews.json',
    'VirtualService_default_reviews.json',
  ]);
  const text = await readFile(path.join(dir, 'resources', 'VirtualService_default_reviews.json'), 'utf8');
  const onDisk = JSON.parse(text) as Resource;
  assert.equal(resourceKey(onDisk), 'VirtualService/default/reviews');
  assert.deepEqual(data(onDisk), data((await load(VS_JASON))[0]));
  const mode = (await stat(path.join(dir, 'resources', 'Service_default_reviews.json'))).mode & 0o777;
  assert.equal(mode, 0o600, mode.toString(8));
});

test('reopening the state dir restores every resource; unchanged applies stay unchanged', async (t) => {
  const dir = await stateDir(t);
  const first = await FileStore.open(dir);
  await first.apply(await load(SERVICES, DR_ALL, VS_JASON));
  const before = first.list().map(data);

  const reopened = await FileStore.open(dir);
  const events = changes(reopened);
  assert.equal(reopened.revision, 0);
  assert.deepEqual(reopened.list().map(data), before);
  assert.equal(reopened.list().length, 9);
  assert.deepEqual(
    reopened.list('DestinationRule').map((r) => r.metadata.name),
    ['details', 'productpage', 'ratings', 'reviews'],
  );
  assert.deepEqual(reopened.list('Service', 'staging'), []);
  assert.deepEqual(reopened.list(undefined, 'default').map(resourceKey), first.list().map(resourceKey));
  const vs = reopened.get('VirtualService', 'default', 'reviews');
  assert.ok(vs?.kind === 'VirtualService');
  assert.equal(vs.spec.http?.[0]?.match?.[0]?.headers?.['end-user']?.exact, 'jason');
  assert.equal(reopened.get('VirtualService', 'default', 'ratings'), undefined);

  const results = await reopened.apply(await load(SERVICES, DR_ALL, VS_JASON));
  assert.ok(
    results.every((r) => r.outcome === 'unchanged'),
    JSON.stringify(results),
  );
  assert.deepEqual(events, []);
  const changed = await reopened.apply(await load(VS_90_10));
  assert.deepEqual(changed, [{ key: 'VirtualService/default/reviews', outcome: 'configured' }]);
  assert.deepEqual(events, [1]);
});

test('open ignores temp files and other files in the resources dir', async (t) => {
  const dir = await stateDir(t);
  const store = await FileStore.open(dir);
  await store.apply(await load(SERVICES));
  // What a crash between writeFile and rename would leave, and unrelated files.
  await writeFile(path.join(dir, 'resources', '.Service_default_x.json.0a1b2c3d.tmp'), '{"half":');
  await writeFile(path.join(dir, 'resources', 'README.txt'), 'not a resource');
  const reopened = await FileStore.open(dir);
  assert.deepEqual(reopened.list().map(resourceKey), store.list().map(resourceKey));
});

test('open creates the state dir when it does not exist', async (t) => {
  const dir = path.join(await stateDir(t), 'nested', 'state');
  const store = await FileStore.open(dir);
  assert.deepEqual(store.list(), []);
  assert.deepEqual(await files(dir), []);
});

test('delete removes the resource and its file, ignores unknown keys, and survives a reopen', async (t) => {
  const dir = await stateDir(t);
  const store = await FileStore.open(dir);
  await store.apply(await load(SERVICES, VS_90_10));
  const events = changes(store);

  const deleted = await store.delete([
    'VirtualService/default/reviews',
    'VirtualService/default/nope',
    'Service/default/ratings',
  ]);
  assert.deepEqual(deleted, ['VirtualService/default/reviews', 'Service/default/ratings']);
  assert.equal(store.get('VirtualService', 'default', 'reviews'), undefined);
  assert.equal(store.get('Service', 'default', 'ratings'), undefined);
  assert.deepEqual(events, [2]);
  assert.deepEqual(await files(dir), [
    'Service_default_details.json',
    'Service_default_productpage.json',
    'Service_default_reviews.json',
  ]);

  // Deleting what is not there is not a change.
  assert.deepEqual(await store.delete(['VirtualService/default/reviews']), []);
  assert.deepEqual(await store.delete([]), []);
  assert.deepEqual(events, [2]);

  const reopened = await FileStore.open(dir);
  assert.deepEqual(reopened.list().map(resourceKey), [
    'Service/default/details',
    'Service/default/productpage',
    'Service/default/reviews',
  ]);

  // Applying a deleted resource again creates it.
  const [vs] = await load(VS_90_10);
  assert.deepEqual(await store.apply([vs!]), [{ key: 'VirtualService/default/reviews', outcome: 'created' }]);
  assert.deepEqual(events, [2, 3]);
});

/** Make the file of `key` impossible to write: a directory where the file should be. */
async function blockFile(dir: string, key: string): Promise<void> {
  await mkdir(path.join(dir, 'resources', `${key.replaceAll('/', '_')}.json`), { recursive: true });
}

test('a batch that fails part-way still announces the resources it did change', async (t) => {
  const dir = await stateDir(t);
  const store = await FileStore.open(dir);
  const events = changes(store);
  const [details, ratings] = await load(SERVICES);
  await blockFile(dir, resourceKey(ratings!));
  await assert.rejects(store.apply([details!, ratings!]));
  if (store.get('Service', 'default', 'details')) {
    assert.equal(store.revision, 1);
    assert.deepEqual(events, [1]);
  } else {
    assert.deepEqual(await files(dir), ['Service_default_ratings.json']); // all or nothing
  }
});

test('a failed write leaves no temp file behind', async (t) => {
  const dir = await stateDir(t);
  const store = await FileStore.open(dir);
  const [details] = await load(SERVICES);
  await blockFile(dir, resourceKey(details!));
  await assert.rejects(store.apply([details!]));
  assert.deepEqual(await files(dir), ['Service_default_details.json']);
});
