// Istio's own bookinfo traffic-management files (../shared/fixtures/istio-bookinfo/, unchanged) applied
// to the bookinfo demo while it runs, checked through the ingress as Istio's tasks describe them:
// request routing (all-v1, jason -> v2), traffic shifting (90-10, 80-20, 50-50 v1/v3) and fault injection
// (a 7 s delay and an HTTP 500 abort on ratings, for jason only).
//
// The demo runs from a copy of examples/bookinfo/*.yaml whose ingress port is a free one instead of 8080,
// so this file can run beside bookinfo.e2e.test.ts. The tests run in order and build on each other as the
// Istio tasks do: destination-rule-all + virtual-service-all-v1 first, then one reviews/ratings file at
// a time replacing the previous VirtualService of the same name.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { RunningMesh, tempDir } from './support/weft.js';
import { upWithRetry } from './support/mesh-start.js';
import { fixture, ROOT } from './support/paths.js';
import { changeConfig } from './support/config-sync.js';
import { freePort } from '../src/local/ports.js';

const REVIEWS_UNAVAILABLE = 'Sorry, product reviews are currently unavailable for this book.';
const RATINGS_UNAVAILABLE = 'Ratings service is currently unavailable';
const SPLIT_REQUESTS = 400;
const SPLIT_TOLERANCE = 0.05;
const SPLIT_ATTEMPTS = 3; // a fair 50-50 split misses +-5% of 400 about 1 time in 20: retry, as upstream

const PRODUCTPAGE = 'productpage-v1-0.default';
const REVIEWS_V2 = 'reviews-v2-0.default';

interface Review {
  reviewer: string;
  text: string;
  rating?: { stars: number; color: string } | { error: string };
}
interface Page {
  reviewsVersion: string | null;
  detailsVersion: string | null;
  reviews: { error?: string; reviews?: Review[]; version?: string };
  user: string | null;
}

const istio = (name: string) => fixture('istio-bookinfo', name);

describe("Istio's bookinfo fixtures on the demo", { timeout: 240_000 }, () => {
  let mesh: RunningMesh;
  let ingress: string;
  let jason: string; // the Cookie header the login sets

  async function page(cookie?: string): Promise<{ page: Page; ms: number; status: number }> {
    const t0 = Date.now();
    const res = await request(`${ingress}/productpage?format=json`, {
      headers: cookie ? { cookie } : {},
      headersTimeout: 30_000,
      bodyTimeout: 30_000,
    });
    const body = (await res.body.json()) as Page;
    return { page: body, ms: Date.now() - t0, status: res.statusCode };
  }

  async function html(cookie?: string): Promise<string> {
    const res = await request(`${ingress}/productpage`, {
      headers: cookie ? { cookie } : {},
      headersTimeout: 30_000,
    });
    assert.equal(res.statusCode, 200);
    return res.body.text();
  }

  /** productpage's ratings API: a call productpage -> ratings carrying end-user, timed. */
  async function ratingsApi(cookie?: string): Promise<{ status: number; ms: number; body: unknown }> {
    const t0 = Date.now();
    const res = await request(`${ingress}/api/v1/products/0/ratings`, {
      headers: cookie ? { cookie } : {},
      headersTimeout: 30_000,
    });
    const body = (await res.body.json()) as unknown;
    return { status: res.statusCode, ms: Date.now() - t0, body };
  }

  async function versions(n: number, cookie?: string): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < n) {
          next++;
          const { page: p, status } = await page(cookie);
          const key = status === 200 ? String(p.reviewsVersion) : `status ${status}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }),
    );
    return counts;
  }

  /** `weft apply -f` Istio's files; wait until the proxies that route by them ACKed the change. */
  async function apply(files: string[], watch = [PRODUCTPAGE]): Promise<void> {
    const synced = await changeConfig(mesh, ['apply', ...files.flatMap((f) => ['-f', istio(f)])], watch);
    assert.ok(synced, `${watch.join(', ')} were served and ACKed ${files.join(', ')}`);
  }

  /** SPLIT_REQUESTS pages; each version's share within +-5% (up to SPLIT_ATTEMPTS tries). */
  async function expectSplit(t: TestContext, want: Record<string, number>): Promise<void> {
    let last = '';
    for (let attempt = 1; attempt <= SPLIT_ATTEMPTS; attempt++) {
      const counts = await versions(SPLIT_REQUESTS);
      const shares = Object.fromEntries([...counts].map(([v, n]) => [v, n / SPLIT_REQUESTS]));
      const unexpected = [...counts.keys()].filter((v) => !(v in want));
      const off = Object.entries(want).filter(([v, w]) => Math.abs((shares[v] ?? 0) - w) > SPLIT_TOLERANCE);
      last = `attempt ${attempt}: ${JSON.stringify(shares)}`;
      t.diagnostic(last);
      assert.deepEqual(unexpected, [], `only ${Object.keys(want)} answer: ${last}`);
      if (off.length === 0) return;
    }
    assert.fail(`shares not within +-5% of ${JSON.stringify(want)} in ${SPLIT_ATTEMPTS} tries; ${last}`);
  }

  before(async () => {
    // A copy of the demo's YAML with the ingress on a free port.
    const dir = await tempDir('weft-bookinfo-fixtures-');
    const port = await freePort();
    const src = join(ROOT, 'examples/bookinfo');
    for (const f of (await readdir(src)).filter((x) => x.endsWith('.yaml'))) {
      let text = await readFile(join(src, f), 'utf8');
      if (f === 'gateway.yaml') {
        assert.match(text, /number: 8080/);
        text = text.replace(/number: 8080/, `number: ${port}`);
      }
      await writeFile(join(dir, f), text);
    }
    ({ mesh } = await upWithRetry([dir]));
    ingress = `http://127.0.0.1:${port}`;
    assert.match(mesh.output, new RegExp(`http://127\\.0\\.0\\.1:${port}`));

    // Log in as jason the way a browser does: POST the form, keep the cookie. The mesh is up when every
    // instance is ready; the gateway may learn the endpoint a push later, so a 503 is retried briefly.
    const login = async () => {
      const r = await request(`${ingress}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'username=jason',
      });
      await r.body.dump();
      return r;
    };
    let res = await login();
    for (let i = 0; i < 20 && res.statusCode === 503; i++) {
      await new Promise((r) => setTimeout(r, 250));
      res = await login();
    }
    assert.equal(res.statusCode, 302, `flags: ${String(res.headers['x-weft-response-flags'] ?? '-')}`);
    const setCookie = [res.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('user='));
    assert.ok(setCookie, 'the login sets the user cookie');
    jason = setCookie.split(';')[0]!;
    assert.equal(jason, 'user=jason');
  });

  after(async () => {
    await mesh?.stop();
  });

  test('without routing rules all three reviews versions answer', async () => {
    const counts = await versions(15);
    assert.deepEqual([...counts.keys()].sort(), ['v1', 'v2', 'v3']);
    const { page: p } = await page(jason);
    assert.equal(p.user, 'jason');
  });

  test('destination-rule-all + virtual-service-all-v1: every request, jason too, gets reviews v1', async () => {
    await apply(['destination-rule-all.yaml', 'virtual-service-all-v1.yaml'], [PRODUCTPAGE, REVIEWS_V2]);
    assert.deepEqual([...(await versions(20))], [['v1', 20]]);
    assert.deepEqual([...(await versions(5, jason))], [['v1', 5]]);
    const { page: p } = await page();
    assert.equal(p.detailsVersion, 'v1');
    assert.equal(p.reviews.reviews?.length, 2);
    assert.ok(
      p.reviews.reviews!.every((r) => r.rating === undefined),
      'v1 shows no stars',
    );
  });

  test('virtual-service-reviews-90-10: 90% v1, 10% v2', async (t) => {
    await apply(['virtual-service-reviews-90-10.yaml']);
    await expectSplit(t, { v1: 0.9, v2: 0.1 });
  });

  test('virtual-service-reviews-80-20: 80% v1, 20% v2', async (t) => {
    await apply(['virtual-service-reviews-80-20.yaml']);
    await expectSplit(t, { v1: 0.8, v2: 0.2 });
  });

  test('virtual-service-reviews-50-v3: 50% v1, 50% v3', async (t) => {
    await apply(['virtual-service-reviews-50-v3.yaml']);
    await expectSplit(t, { v1: 0.5, v3: 0.5 });
  });

  test('virtual-service-reviews-jason-v2-v3: jason gets v2 (black stars), everyone else v3 (red)', async () => {
    await apply(['virtual-service-reviews-jason-v2-v3.yaml']);
    assert.deepEqual([...(await versions(10, jason))], [['v2', 10]]);
    assert.deepEqual([...(await versions(10))], [['v3', 10]]);
    const mine = (await page(jason)).page;
    assert.deepEqual(
      mine.reviews.reviews?.map((r) => r.rating),
      [
        { stars: 5, color: 'black' },
        { stars: 4, color: 'black' },
      ],
    );
    const theirs = (await page()).page;
    assert.deepEqual(
      theirs.reviews.reviews?.map((r) => r.rating),
      [
        { stars: 5, color: 'red' },
        { stars: 4, color: 'red' },
      ],
    );
  });

  test('virtual-service-reviews-test-v2: jason gets v2, everyone else v1', async () => {
    await apply(['virtual-service-reviews-test-v2.yaml']);
    assert.deepEqual([...(await versions(10, jason))], [['v2', 10]]);
    assert.deepEqual([...(await versions(10))], [['v1', 10]]);
    assert.match(await html(jason), /Reviews served by: reviews-v2/);
    assert.match(await html(), /Reviews served by: reviews-v1/);
  });

  test('virtual-service-ratings-test-delay: jason waits for ratings 7 s, so his reviews time out; others are not delayed', async (t) => {
    // Istio's task: all-v1 + reviews-test-v2, then the delay. reviews v2 waits up to 10 s for ratings,
    // longer than productpage's 3 s timeout + 1 retry: jason's page takes ~6 s and shows no reviews.
    await apply(
      ['virtual-service-reviews-test-v2.yaml', 'virtual-service-ratings-test-delay.yaml'],
      [PRODUCTPAGE, REVIEWS_V2],
    );
    const others = await page();
    t.diagnostic(`others: ${others.ms} ms`);
    assert.equal(others.status, 200);
    assert.equal(others.page.reviewsVersion, 'v1');
    assert.ok(others.ms < 2500, `the page was not delayed for others (${others.ms} ms)`);

    const mine = await page(jason);
    t.diagnostic(`jason: ${mine.ms} ms`);
    assert.equal(mine.status, 200, 'productpage answers with the reviews part unavailable');
    assert.equal(mine.page.reviewsVersion, null);
    assert.equal(mine.page.reviews.error, REVIEWS_UNAVAILABLE);
    assert.ok(mine.ms >= 5000 && mine.ms < 12_000, `about 6 s (3 s timeout + 1 retry), took ${mine.ms} ms`);

    // The delay is on ratings itself, and only for jason: productpage's ratings API (3 s timeout).
    const theirRatings = await ratingsApi();
    t.diagnostic(`ratings API, others: ${theirRatings.status} in ${theirRatings.ms} ms`);
    assert.equal(theirRatings.status, 200);
    assert.ok(theirRatings.ms < 2000, `ratings answered others at once (${theirRatings.ms} ms)`);
    const myRatings = await ratingsApi(jason);
    t.diagnostic(`ratings API, jason: ${myRatings.status} in ${myRatings.ms} ms`);
    assert.notEqual(myRatings.status, 200);
    assert.ok(
      myRatings.ms >= 2500,
      `ratings held jason's call past productpage's 3 s timeout (${myRatings.ms} ms)`,
    );
    assert.match(await html(jason), /Sorry, product reviews are currently unavailable for this book\./);
  });

  test('virtual-service-ratings-test-abort: ratings answers jason 500, so his stars are unavailable; others are fine', async () => {
    await apply(
      ['virtual-service-reviews-test-v2.yaml', 'virtual-service-ratings-test-abort.yaml'],
      [PRODUCTPAGE, REVIEWS_V2],
    );
    const mine = await page(jason);
    assert.equal(mine.status, 200);
    assert.equal(mine.page.reviewsVersion, 'v2');
    assert.deepEqual(
      mine.page.reviews.reviews?.map((r) => r.rating),
      [{ error: RATINGS_UNAVAILABLE }, { error: RATINGS_UNAVAILABLE }],
    );
    assert.ok(mine.ms < 2500, `an abort is immediate (${mine.ms} ms)`);
    assert.match(await html(jason), /Ratings service is currently unavailable/);

    const others = await page();
    assert.equal(others.page.reviewsVersion, 'v1');
    assert.doesNotMatch(await html(), /currently unavailable/);

    assert.equal((await ratingsApi(jason)).status, 500);
    const theirRatings = await ratingsApi();
    assert.equal(theirRatings.status, 200);
    assert.deepEqual((theirRatings.body as { ratings: unknown }).ratings, { Reviewer1: 5, Reviewer2: 4 });
  });

  test('deleting the ratings rule ends the abort for jason', async () => {
    const synced = await changeConfig(mesh, ['delete', 'vs', 'ratings'], [PRODUCTPAGE, REVIEWS_V2]);
    assert.ok(synced);
    const mine = await page(jason);
    assert.deepEqual(
      mine.page.reviews.reviews?.map((r) => r.rating),
      [
        { stars: 5, color: 'black' },
        { stars: 4, color: 'black' },
      ],
    );
  });
});
