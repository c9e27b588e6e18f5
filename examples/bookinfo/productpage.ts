// productpage: the front end. Calls details and reviews (and, for the ratings API, ratings) and renders
// one book's page.
//   GET  /                          index page
//   GET  /productpage               HTML (or JSON with ?format=json / Accept: application/json)
//   POST /login   (form: username)  sets cookie user=<name>, 302 → /productpage
//   GET  /logout                    clears the cookie, 302 → /productpage
//   GET  /api/v1/products[/:id[/reviews|/ratings]]   JSON proxied from the services
// A logged-in user is sent downstream as the `end-user` header, which is what Istio's bookinfo routing
// rules match on (`end-user: jason` → reviews v2). As in bookinfo, details is tried once with a 3 s
// timeout and reviews twice with 3 s each (DETAILS_TIMEOUT_MS / REVIEWS_TIMEOUT_MS override); a failed
// downstream is shown as a message on a 200 page.

import type http from 'node:http';
import {
  callService,
  escapeHtml,
  identity,
  listen,
  numericId,
  parseJson,
  propagatedHeaders,
  readBody,
  sendHtml,
  sendJson,
  serviceAddress,
  type CallResult,
  type OutgoingHeaders,
} from './lib/http.js';

const me = identity('productpage');
const DETAILS = serviceAddress('details');
const REVIEWS = serviceAddress('reviews');
const RATINGS = serviceAddress('ratings');
const detailsTimeoutMs = Number(process.env.DETAILS_TIMEOUT_MS) || 3000;
const reviewsTimeoutMs = Number(process.env.REVIEWS_TIMEOUT_MS) || 3000;
const ratingsTimeoutMs = Number(process.env.RATINGS_TIMEOUT_MS) || 3000;

const DETAILS_UNAVAILABLE = 'Sorry, product details are currently unavailable for this book.';
const REVIEWS_UNAVAILABLE = 'Sorry, product reviews are currently unavailable for this book.';
const RATINGS_UNAVAILABLE = 'Sorry, product ratings are currently unavailable for this book.';

interface Product {
  id: number;
  title: string;
  descriptionHtml: string;
}
const PRODUCTS: Product[] = [
  {
    id: 0,
    title: 'The Comedy of Errors',
    descriptionHtml:
      '<a href="https://en.wikipedia.org/wiki/The_Comedy_of_Errors">Wikipedia Summary</a>: The Comedy of ' +
      "Errors is one of <b>William Shakespeare's</b> early plays. It is his shortest and one of his most " +
      'farcical comedies, with a major part of the humour coming from slapstick and mistaken identity, in ' +
      'addition to puns and word play.',
  },
];

type Json = Record<string, unknown>;

// ---- session -------------------------------------------------------------------------------------

function cleanUser(raw: string): string {
  // The name goes into a header and a cookie: printable ASCII only.
  return raw
    .replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, 64);
}

function currentUser(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== 'user') continue;
    let value: string;
    try {
      value = decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return undefined;
    }
    const user = cleanUser(value);
    return user || undefined;
  }
  return undefined;
}

/** Headers for downstream calls: the propagated ones plus end-user for a logged-in user. */
function forwardHeaders(req: http.IncomingMessage, user: string | undefined): OutgoingHeaders {
  const headers = propagatedHeaders(req);
  delete headers['end-user'];
  if (user) headers['end-user'] = user;
  return headers;
}

// ---- downstream calls ----------------------------------------------------------------------------

function jsonObject(r: CallResult): Json | undefined {
  const v = r.status === 200 ? parseJson(r.body) : undefined;
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

async function getDetails(id: number, headers: OutgoingHeaders): Promise<{ ok: boolean; body: Json }> {
  const r = await callService(DETAILS, `/details/${id}`, headers, { timeoutMs: detailsTimeoutMs });
  const body = jsonObject(r);
  if (body) return { ok: true, body };
  console.error(`${me.workload}: details ${DETAILS}: ${r.error ?? `status ${r.status}`}`);
  return { ok: false, body: { error: DETAILS_UNAVAILABLE } };
}

async function getReviews(id: number, headers: OutgoingHeaders): Promise<{ ok: boolean; body: Json }> {
  let r: CallResult | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    r = await callService(REVIEWS, `/reviews/${id}`, headers, { timeoutMs: reviewsTimeoutMs });
    const body = jsonObject(r);
    if (body) return { ok: true, body };
  }
  console.error(`${me.workload}: reviews ${REVIEWS}: ${r?.error ?? `status ${r?.status}`}`);
  return { ok: false, body: { error: REVIEWS_UNAVAILABLE } };
}

/** Pass a downstream JSON answer through, or a JSON error with the downstream status. */
function proxyJson(res: http.ServerResponse, r: CallResult, unavailable: string): void {
  const v = parseJson(r.body);
  if (!r.error && v !== undefined) sendJson(res, r.status, v);
  else sendJson(res, r.status >= 400 ? r.status : 502, { error: unavailable });
}

// ---- page ----------------------------------------------------------------------------------------

interface PageModel {
  product: Product;
  details: Json;
  reviews: Json;
  detailsOk: boolean;
  reviewsOk: boolean;
  detailsVersion: string | null;
  reviewsVersion: string | null;
  reviewsServedBy: string | null;
  reviewsPod: string | null;
  user: string | null;
}

function str(v: unknown): string | null {
  return typeof v === 'string' || typeof v === 'number' ? String(v) : null;
}

async function buildModel(req: http.IncomingMessage): Promise<PageModel> {
  const product = PRODUCTS[0] as Product;
  const user = currentUser(req);
  const headers = forwardHeaders(req, user);
  const [details, reviews] = await Promise.all([
    getDetails(product.id, headers),
    getReviews(product.id, headers),
  ]);
  const reviewsVersion = reviews.ok ? str(reviews.body.version) : null;
  return {
    product,
    details: details.body,
    reviews: reviews.body,
    detailsOk: details.ok,
    reviewsOk: reviews.ok,
    detailsVersion: details.ok ? (str(details.body.version) ?? 'v1') : null,
    reviewsVersion,
    reviewsServedBy: reviews.ok ? (str(reviews.body.workload) ?? `reviews-${reviewsVersion ?? 'v1'}`) : null,
    reviewsPod: reviews.ok ? str(reviews.body.podname) : null,
    user: user ?? null,
  };
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#2b3e50;color:#fff;padding:.6em 1.2em;display:flex;justify-content:space-between;align-items:center}
header a{color:#fff}
header form{margin:0}
main{max-width:60em;margin:1.5em auto;padding:0 1.2em}
.cols{display:flex;gap:2em;flex-wrap:wrap}
.cols section{flex:1;min-width:18em}
dl{display:grid;grid-template-columns:max-content auto;gap:.3em 1em}
dt{font-weight:bold}
blockquote{border-left:4px solid #ccc;margin:0 0 1em;padding:.4em 1em;background:#fff}
.stars{font-size:1.3em;letter-spacing:.1em}
.error{color:#a94442;background:#f2dede;padding:.6em 1em;border-radius:4px}
footer{max-width:60em;margin:2em auto;padding:0 1.2em;color:#555;font-size:.9em}
`;

function renderStars(rating: unknown): string {
  if (!rating || typeof rating !== 'object') return '';
  const r = rating as Json;
  if (typeof r.error === 'string') return `<p class="error">${escapeHtml(r.error)}</p>`;
  const stars = typeof r.stars === 'number' ? Math.max(0, Math.min(5, Math.round(r.stars))) : 0;
  const color = typeof r.color === 'string' && /^[a-z]+$/i.test(r.color) ? r.color : 'black';
  return (
    `<div class="stars" data-stars="${stars}" data-star-color="${color}" title="${stars} of 5 stars">` +
    `<span style="color:${color}">${'★'.repeat(stars)}</span>` +
    `<span style="color:#999">${'☆'.repeat(5 - stars)}</span></div>`
  );
}

function renderDetails(m: PageModel): string {
  if (!m.detailsOk) return `<p class="error">${escapeHtml(str(m.details.error) ?? DETAILS_UNAVAILABLE)}</p>`;
  const rows: [string, string][] = [
    ['Type', 'type'],
    ['Pages', 'pages'],
    ['Publisher', 'publisher'],
    ['Language', 'language'],
    ['ISBN-10', 'ISBN-10'],
    ['ISBN-13', 'ISBN-13'],
  ];
  return (
    '<dl>' +
    rows
      .map(([label, key]) => `<dt>${label}</dt><dd>${escapeHtml(str(m.details[key]) ?? '')}</dd>`)
      .join('') +
    '</dl>'
  );
}

function renderReviews(m: PageModel): string {
  if (!m.reviewsOk) return `<p class="error">${escapeHtml(REVIEWS_UNAVAILABLE)}</p>`;
  const list = Array.isArray(m.reviews.reviews) ? (m.reviews.reviews as unknown[]) : [];
  return list
    .map((item) => {
      const r = (item && typeof item === 'object' ? item : {}) as Json;
      return (
        `<blockquote><p>${escapeHtml(str(r.text) ?? '')}</p>` +
        `<small>${escapeHtml(str(r.reviewer) ?? '')}</small>${renderStars(r.rating)}</blockquote>`
      );
    })
    .join('\n');
}

function renderPage(m: PageModel): string {
  const session = m.user
    ? `<span>Signed in as <b>${escapeHtml(m.user)}</b> · <a href="logout">Sign out</a></span>`
    : `<form method="post" action="login"><label>User <input name="username" size="10"></label> ` +
      `<button type="submit">Sign in</button></form>`;
  const reviewsLine = m.reviewsOk
    ? `Reviews served by: ${escapeHtml(m.reviewsServedBy ?? '')} (${escapeHtml(m.reviewsVersion ?? '')})` +
      (m.reviewsPod ? ` · pod ${escapeHtml(m.reviewsPod)}` : '')
    : 'Reviews served by: unavailable';
  const detailsLine = m.detailsOk
    ? `Details served by: ${escapeHtml(str(m.details.workload) ?? `details-${m.detailsVersion ?? 'v1'}`)} ` +
      `(${escapeHtml(m.detailsVersion ?? '')})` +
      (str(m.details.served_by) ? ` · pod ${escapeHtml(str(m.details.served_by) ?? '')}` : '')
    : 'Details served by: unavailable';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Simple Bookstore App</title>
<style>${STYLE}</style>
</head>
<body>
<header><strong>BookInfo Sample</strong>${session}</header>
<main id="product" data-reviews-version="${escapeHtml(m.reviewsVersion ?? 'unavailable')}" data-details-version="${escapeHtml(m.detailsVersion ?? 'unavailable')}" data-user="${escapeHtml(m.user ?? '')}">
<h1>${escapeHtml(m.product.title)}</h1>
<p>${m.product.descriptionHtml}</p>
<div class="cols">
<section id="details"><h2>Book Details</h2>
${renderDetails(m)}
</section>
<section id="reviews"><h2>Book Reviews</h2>
${renderReviews(m)}
</section>
</div>
</main>
<footer>
<p id="reviews-served-by">${reviewsLine}</p>
<p id="details-served-by">${detailsLine}</p>
<p>Page served by ${escapeHtml(me.pod)} (${escapeHtml(me.version)})</p>
</footer>
</body>
</html>
`;
}

function renderIndex(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Simple Bookstore App</title><style>${STYLE}</style></head>
<body>
<header><strong>BookInfo Sample</strong></header>
<main>
<h1>Hello! This is a simple bookstore application consisting of four services.</h1>
<p>productpage calls details and reviews; reviews v2 and v3 call ratings (black and red stars), v1 does not.</p>
<p><a href="productpage">Normal user</a> · <a href="productpage?format=json">as JSON</a></p>
<form method="post" action="login"><label>Test user <input name="username" value="jason"></label>
<button type="submit">Sign in</button></form>
</main>
</body>
</html>
`;
}

function wantsJson(req: http.IncomingMessage, url: URL): boolean {
  if (url.searchParams.get('format') === 'json') return true;
  const accept = req.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

function redirect(res: http.ServerResponse, location: string, cookie: string): void {
  res.writeHead(302, { location, 'set-cookie': cookie, 'content-length': 0 });
  res.end();
}

// ---- routes --------------------------------------------------------------------------------------

listen('productpage', async (req, res, url) => {
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const isGet = method === 'GET' || method === 'HEAD';

  if ((path === '/' || path === '/index.html') && isGet) {
    sendHtml(res, 200, renderIndex());
    return;
  }

  if (path === '/productpage' && isGet) {
    const m = await buildModel(req);
    if (wantsJson(req, url)) {
      sendJson(res, 200, {
        product: { id: m.product.id, title: m.product.title },
        details: m.details,
        reviews: m.reviews,
        reviewsVersion: m.reviewsVersion,
        reviewsServedBy: m.reviewsServedBy,
        detailsVersion: m.detailsVersion,
        user: m.user,
      });
    } else {
      sendHtml(res, 200, renderPage(m));
    }
    return;
  }

  if (path === '/login' && method === 'POST') {
    const body = await readBody(req);
    let name = '';
    if ((req.headers['content-type'] ?? '').includes('application/json')) {
      const v = parseJson(body);
      if (v && typeof v === 'object' && 'username' in v) name = String(v.username);
    } else {
      name = new URLSearchParams(body).get('username') ?? '';
    }
    const user = cleanUser(name);
    redirect(
      res,
      '/productpage',
      user
        ? `user=${encodeURIComponent(user)}; Path=/; HttpOnly; SameSite=Lax`
        : 'user=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax',
    );
    return;
  }

  if (path === '/logout' && isGet) {
    redirect(res, '/productpage', 'user=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax');
    return;
  }

  const api = /^\/api\/v1\/products(?:\/([^/]+)(?:\/(reviews|ratings))?)?\/?$/.exec(path);
  if (api && isGet) {
    if (api[1] === undefined) {
      sendJson(
        res,
        200,
        PRODUCTS.map((p) => ({ id: p.id, title: p.title, descriptionHtml: p.descriptionHtml })),
      );
      return;
    }
    const id = numericId(api[1]);
    if (id === undefined) {
      sendJson(res, 400, { error: 'please provide numeric product id' });
      return;
    }
    const headers = forwardHeaders(req, currentUser(req));
    if (api[2] === 'reviews') {
      proxyJson(
        res,
        await callService(REVIEWS, `/reviews/${id}`, headers, { timeoutMs: reviewsTimeoutMs }),
        REVIEWS_UNAVAILABLE,
      );
    } else if (api[2] === 'ratings') {
      proxyJson(
        res,
        await callService(RATINGS, `/ratings/${id}`, headers, { timeoutMs: ratingsTimeoutMs }),
        RATINGS_UNAVAILABLE,
      );
    } else {
      proxyJson(
        res,
        await callService(DETAILS, `/details/${id}`, headers, { timeoutMs: detailsTimeoutMs }),
        DETAILS_UNAVAILABLE,
      );
    }
    return;
  }

  if (['/', '/index.html', '/productpage', '/login', '/logout'].includes(path) || api) {
    sendJson(res, 405, { error: `method ${method} not allowed on ${path}` });
    return;
  }
  sendJson(res, 404, { error: `no route for ${path}` });
});
