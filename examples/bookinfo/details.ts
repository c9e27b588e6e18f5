// details: book information. GET /details/:id → JSON. Bookinfo's details-v1, without the Google Books
// lookup of details-v2.

import { identity, listen, numericId, sendJson } from './lib/http.js';

const me = identity('details');

listen('details', (req, res, url) => {
  const m = /^\/details\/([^/]+)$/.exec(url.pathname);
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
  sendJson(res, 200, {
    id,
    author: 'William Shakespeare',
    year: 1595,
    type: 'paperback',
    pages: 200,
    publisher: 'PublisherA',
    language: 'English',
    'ISBN-10': '1234567890',
    'ISBN-13': '123-1234567890',
    version: me.version,
    workload: me.workload,
    served_by: me.pod,
  });
});
