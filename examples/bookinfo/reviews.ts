// reviews: two reviews per book. GET /reviews/:id → JSON.
//   SERVICE_VERSION  v1 | v2 | v3 (reported in the response)
//   ENABLE_RATINGS   "true": fetch stars from the ratings service (v2, v3); v1 never calls ratings
//   STAR_COLOR       colour of the stars: black (v2), red (v3)
// As in bookinfo, the call to ratings times out after 10 s with black stars and 2.5 s otherwise
// (RATINGS_TIMEOUT_MS overrides). Trace headers and end-user are forwarded to ratings, so the Istio
// fault-injection rules matching `end-user: jason` on ratings apply.

import {
  callService,
  identity,
  listen,
  numericId,
  parseJson,
  propagatedHeaders,
  sendJson,
  serviceAddress,
} from './lib/http.js';

const me = identity('reviews');
const ratingsEnabled = process.env.ENABLE_RATINGS === 'true';
const starColor = process.env.STAR_COLOR || 'black';
const ratingsTimeoutMs = Number(process.env.RATINGS_TIMEOUT_MS) || (starColor === 'black' ? 10_000 : 2500);
const ratingsService = serviceAddress('ratings');

const REVIEWS = [
  {
    reviewer: 'Reviewer1',
    text: 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!',
  },
  {
    reviewer: 'Reviewer2',
    text: 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.',
  },
];

type Rating = { stars: number; color: string } | { error: string };
const UNAVAILABLE: Rating = { error: 'Ratings service is currently unavailable' };

listen('reviews', async (req, res, url) => {
  const m = /^\/reviews\/([^/]+)$/.exec(url.pathname);
  if (!m) {
    sendJson(res, 404, { error: `no route for ${url.pathname}` });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: 'method not allowed' });
    return;
  }
  const id = numericId(m[1]);
  if (id === undefined) {
    sendJson(res, 400, { error: 'please provide numeric product id' });
    return;
  }

  let ratings: Record<string, unknown> | undefined;
  if (ratingsEnabled) {
    const r = await callService(ratingsService, `/ratings/${id}`, propagatedHeaders(req), {
      timeoutMs: ratingsTimeoutMs,
    });
    const body = r.status === 200 ? parseJson(r.body) : undefined;
    if (body && typeof body === 'object' && 'ratings' in body && typeof body.ratings === 'object') {
      ratings = (body.ratings ?? {}) as Record<string, unknown>;
    } else {
      console.error(`${me.workload}: ratings ${ratingsService}: ${r.error ?? `status ${r.status}`}`);
    }
  }

  sendJson(res, 200, {
    id: String(id),
    podname: me.pod,
    clustername: 'null',
    version: me.version,
    workload: me.workload,
    served_by: me.pod,
    reviews: REVIEWS.map((review) => {
      if (!ratingsEnabled) return review;
      if (!ratings) return { ...review, rating: UNAVAILABLE };
      const stars = ratings[review.reviewer];
      return { ...review, rating: { stars: typeof stars === 'number' ? stars : -1, color: starColor } };
    }),
  });
});
