// The control plane's admin API (loopback, Istio's 15014): config apply/get/delete, proxy status and
// config, registry, bootstrap tokens, analysis. JSON in, JSON out; every error carries a WEFT_ERR code.
import http from 'node:http';
import type { ConfigStore } from '../store/file-store.js';
import type { Registry } from '../registry/registry.js';
import type { PushServer } from '../push/server.js';
import type { BootstrapTokens } from '../ca/tokens.js';
import { parseDocuments } from '../../config/load.js';
import { analyze } from '../../config/analyze.js';
import { KINDS, resourceKey, type Kind, type Resource } from '../../config/types.js';
import { ErrorCodes, isWeftError } from '../../lib/errors.js';
import { parseDuration } from '../../config/duration.js';
import { withRouteStatus } from '../../config/route-status.js';
import type { CaInfo, CertificateAuthority } from '../ca/authority.js';
import { controlPlaneMetrics, metricsUrl, prometheusTargets } from './metrics.js';
import { CONTENT_TYPES } from '../../proxy/telemetry/prom-text.js';
import { describeSecrets } from './secrets.js';
import { redactSnapshot } from '../../model/redact.js';
import type { Dashboard } from '../dashboard/routes.js';

export interface AdminDeps {
  store: ConfigStore;
  registry: Registry;
  push: PushServer;
  tokens: BootstrapTokens;
  version: string;
  ca?: CertificateAuthority; // for citadel_* metrics and GET /apis/v1/ca
  /** POST /apis/v1/ca/rotate-root: replace the root, the old one trusted for the overlap. */
  rotateRoot?: (overlapMs: number) => Promise<CaInfo>;
  /** The web dashboard (/dashboard/) and its JSON API (/api/*). */
  dashboard?: Dashboard;
}

/** The overlap of a root rotation when none is given (Istio-style Go duration in the request). */
export const DEFAULT_ROTATION_OVERLAP = '24h';

interface SourceFile {
  name: string;
  content: string;
}

const MAX_BODY = 8 * 1024 * 1024;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readJson(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('request body too large'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch {
        reject(new Error('request body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}

/** Parse and validate every file; all or nothing, so a bad file never half-applies. */
function parseFiles(files: SourceFile[]) {
  const resources: Resource[] = [];
  const problems = [];
  for (const f of files) {
    const r = parseDocuments(f.content, f.name);
    resources.push(...r.resources);
    problems.push(...r.problems);
  }
  return {
    resources,
    errors: problems.filter((p) => p.severity === 'error'),
    warnings: problems.filter((p) => p.severity !== 'error'),
  };
}

export function createAdminApi(deps: AdminDeps): http.Server {
  const { store, registry, push, tokens } = deps;
  const routes: Array<
    [
      string,
      RegExp,
      (
        req: http.IncomingMessage,
        res: http.ServerResponse,
        m: RegExpExecArray,
        url: URL,
      ) => Promise<void> | void,
    ]
  > = [
    ['GET', /^\/readyz$/, (_q, res) => send(res, 200, { ready: true, version: deps.version })],
    [
      'POST',
      /^\/apis\/v1\/apply$/,
      async (req, res) => {
        const body = (await readJson(req)) as { files?: SourceFile[] };
        const { resources, errors, warnings } = parseFiles(body.files ?? []);
        if (errors.length)
          return send(res, 400, { code: ErrorCodes.CONFIG_INVALID, problems: errors, warnings });
        const results = await store.apply(resources);
        send(res, 200, { results, warnings, analysis: analyze(store.list()) });
      },
    ],
    [
      'POST',
      /^\/apis\/v1\/delete$/,
      async (req, res) => {
        const body = (await readJson(req)) as { files?: SourceFile[]; keys?: string[] };
        const { resources, errors } = parseFiles(body.files ?? []);
        if (errors.length) return send(res, 400, { code: ErrorCodes.CONFIG_INVALID, problems: errors });
        const keys = [...resources.map(resourceKey), ...(body.keys ?? [])];
        const deleted = await store.delete(keys);
        send(res, 200, { deleted, notFound: keys.filter((k) => !deleted.includes(k)) });
      },
    ],
    [
      'GET',
      /^\/apis\/v1\/resources$/,
      (_q, res, _m, url) => {
        const kind = url.searchParams.get('kind') ?? undefined;
        if (kind && !KINDS.includes(kind as Kind))
          return send(res, 400, {
            code: ErrorCodes.CONFIG_UNKNOWN_KIND,
            message: `unknown kind ${kind}`,
            kinds: KINDS,
          });
        const ns = url.searchParams.get('namespace') ?? undefined;
        const name = url.searchParams.get('name');
        const items = store
          .list(kind as Kind | undefined, ns)
          .filter((r) => !name || r.metadata.name === name);
        if (name && items.length === 0)
          return send(res, 404, {
            code: ErrorCodes.CONFIG_NOT_FOUND,
            message: `${kind ?? 'resource'} "${name}" not found`,
          });
        // HTTPRoutes and GRPCRoutes carry their computed status (Accepted, ResolvedRefs per parent).
        send(res, 200, { items: withRouteStatus(items, store.list()) });
      },
    ],
    [
      'GET',
      /^\/metrics$/,
      (_q, res) => {
        const text = controlPlaneMetrics(push, deps.ca, deps.version);
        res.writeHead(200, { 'content-type': CONTENT_TYPES.text, 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
    ],
    // Prometheus http_sd_configs: every connected proxy's metrics endpoint.
    ['GET', /^\/prometheus\/targets$/, (_q, res) => send(res, 200, prometheusTargets(push.statuses()))],
    ['GET', /^\/apis\/v1\/analyze$/, (_q, res) => send(res, 200, { problems: analyze(store.list()) })],
    [
      'GET',
      /^\/apis\/v1\/proxies$/,
      (_q, res) =>
        send(res, 200, {
          items: push.statuses().map((s) => ({
            ...s,
            ready: registry.get(s.id)?.ready ?? false,
            ...(metricsUrl(s) ? { metricsUrl: metricsUrl(s) } : {}),
          })),
        }),
    ],
    [
      'GET',
      /^\/apis\/v1\/proxies\/([^/]+)\/config$/,
      (_q, res, m) => {
        const id = decodeURIComponent(m[1]!);
        const snap = push.snapshotOf(id) ?? push.snapshotOf(`${id}.default`);
        if (!snap)
          return send(res, 404, { code: ErrorCodes.PROXY_NOT_FOUND, message: `no connected proxy "${id}"` });
        send(res, 200, redactSnapshot(snap));
      },
    ],
    // What certificates a proxy holds, as istioctl proxy-config secret shows them.
    [
      'GET',
      /^\/apis\/v1\/proxies\/([^/]+)\/secrets$/,
      (_q, res, m) => {
        const id = decodeURIComponent(m[1]!);
        const full = push.issuedTo(id) ? id : `${id}.default`;
        const issued = push.issuedTo(full);
        if (!issued)
          return send(res, 404, {
            code: ErrorCodes.PROXY_NOT_FOUND,
            message: `no certificate was issued to a proxy "${id}" by this control plane`,
          });
        send(res, 200, describeSecrets(issued, push.snapshotOf(full)));
      },
    ],
    // The CA: its mode, signing certificate and the roots of the trust bundle (weft ca show).
    [
      'GET',
      /^\/apis\/v1\/ca$/,
      (_q, res) => {
        if (!deps.ca) return send(res, 404, { message: 'this control plane has no CA' });
        send(res, 200, deps.ca.info());
      },
    ],
    [
      'POST',
      /^\/apis\/v1\/ca\/rotate-root$/,
      async (req, res) => {
        if (!deps.rotateRoot) return send(res, 404, { message: 'this control plane cannot rotate its root' });
        const b = (await readJson(req)) as { overlap?: string };
        let overlapMs: number;
        try {
          overlapMs = parseDuration(b.overlap ?? DEFAULT_ROTATION_OVERLAP);
        } catch (e) {
          return send(res, 400, { code: ErrorCodes.CA_ROTATION_REFUSED, message: (e as Error).message });
        }
        try {
          send(res, 200, await deps.rotateRoot(overlapMs));
        } catch (e) {
          if (!isWeftError(e)) throw e;
          send(res, 400, { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) });
        }
      },
    ],
    ['GET', /^\/apis\/v1\/registry$/, (_q, res) => send(res, 200, { items: registry.list() })],
    [
      'POST',
      /^\/apis\/v1\/tokens$/,
      async (req, res) => {
        const b = (await readJson(req)) as { namespace?: string; workload?: string; instance?: string };
        const w = b.workload && store.get('Workload', b.namespace ?? 'default', b.workload);
        if (!w || w.kind !== 'Workload')
          return send(res, 404, {
            code: ErrorCodes.CONFIG_NOT_FOUND,
            message: `no Workload ${b.namespace ?? 'default'}/${b.workload}`,
          });
        const token = tokens.issue({
          namespace: w.metadata.namespace,
          workload: w.metadata.name,
          serviceAccount: w.spec.serviceAccount ?? 'default',
          instance: b.instance ?? `${w.metadata.name}-0.${w.metadata.namespace}`,
        });
        send(res, 200, { token });
      },
    ],
  ];
  return http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (deps.dashboard?.handle(req, res, url)) return;
    for (const [method, re, handler] of routes) {
      const m = re.exec(url.pathname);
      if (!m || method !== req.method) continue;
      // A handler that throws (synchronously too) answers with the error; it never takes the control plane down.
      new Promise((resolve) => resolve(handler(req, res, m, url))).catch((e: Error) => {
        if (res.headersSent) res.destroy();
        else send(res, 400, { message: e.message });
      });
      return;
    }
    send(res, 404, { message: `no such endpoint ${req.method} ${url.pathname}` });
  });
}
