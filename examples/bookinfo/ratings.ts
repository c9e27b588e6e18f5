// ratings: star ratings per product. GET /ratings/:id → JSON; POST /ratings/:id with a JSON body such as
// {"Reviewer1": 3} replaces that product's ratings (kept in memory), as bookinfo's ratings-v1 does.

import { identity, listen, numericId, parseJson, readBody, sendJson } from './lib/http.js';

const me = identity('ratings');
const DEFAULT_RATINGS: Record<string, number> = { Reviewer1: 5, Reviewer2: 4 };
const stored = new Map<number, Record<string, number>>();

listen('ratings', async (req, res, url) => {
  const m = /^\/ratings\/([^/]+)$/.exec(url.pathname);
  if (!m) {
    sendJson(res, 404, { error: `no route for ${url.pathname}` });
    return;
  }
  const id = numericId(m[1]);
  if (id === undefined) {
    sendJson(res, 400, { error: 'please provide numeric product ID' });
    return;
  }
  if (req.method === 'POST') {
    const body = parseJson(await readBody(req));
    const ratings: Record<string, number> = {};
    if (body && typeof body === 'object' && !Array.isArray(body)) {
      for (const [k, v] of Object.entries(body)) {
        if (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 5) ratings[k] = v;
      }
    }
    if (Object.keys(ratings).length === 0) {
      sendJson(res, 400, { error: 'please provide valid ratings JSON' });
      return;
    }
    stored.set(id, ratings);
    sendJson(res, 200, { id, ratings, version: me.version, served_by: me.pod });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: 'method not allowed' });
    return;
  }
  sendJson(res, 200, {
    id,
    ratings: stored.get(id) ?? DEFAULT_RATINGS,
    version: me.version,
    workload: me.workload,
    served_by: me.pod,
  });
});
