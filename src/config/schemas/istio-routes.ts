// The pieces of an Istio VirtualService route (networking.istio.io HTTPRoute, TCPRoute, TLSRoute), with
// the checks Istio's validating webhook applies (pkg/config/validation/virtualservice.go), so a config
// Istio rejects is rejected here too, with the field it concerns.
import { z } from 'zod';
import type { HTTPRoute } from '../types.js';
import {
  dnsLabel,
  duration,
  intRange,
  labelMap,
  loose,
  nonEmptyString,
  nonNegativeInt,
  percent,
  port,
  regex,
  show,
  strict,
  stringMap,
  weight,
} from './common.js';

const MATCH_KINDS = ['exact', 'prefix', 'regex'] as const;

/** exact | prefix | regex. `allowEmpty`: for headers and query params `{}` means "present". */
export const stringMatch = (allowEmpty: boolean) =>
  strict({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: regex.optional(),
  }).superRefine((m, ctx) => {
    const set = MATCH_KINDS.filter((k) => m[k] !== undefined);
    if (set.length > 1) {
      ctx.addIssue({
        code: 'custom',
        message: `set only one of exact, prefix or regex (got ${set.join(' and ')})`,
      });
    } else if (set.length === 0 && !allowEmpty) {
      ctx.addIssue({ code: 'custom', message: 'set one of exact, prefix or regex' });
    }
  });

const valueMatch = stringMatch(false);
const presenceOrValueMatch = stringMatch(true);

const HEADER_NAME = /^[-_A-Za-z0-9]+$/;
const headerMatches = z.record(z.string(), presenceOrValueMatch).superRefine((m, ctx) => {
  for (const k of Object.keys(m)) {
    // Istio allows `@request.auth.claims.<name>` (JWT claim routing) besides plain header names.
    if (!HEADER_NAME.test(k) && !k.startsWith('@request.auth.claims')) {
      ctx.addIssue({ code: 'custom', path: [k], message: `invalid header name ${show(k)}` });
    }
  }
});

const gatewayNames = z.array(nonEmptyString);

export const httpMatchRequest = strict({
  name: z.string().optional(),
  uri: valueMatch.optional(),
  scheme: valueMatch.optional(),
  method: valueMatch.optional(),
  authority: valueMatch.optional(),
  headers: headerMatches.optional(),
  withoutHeaders: headerMatches.optional(),
  queryParams: z.record(z.string(), presenceOrValueMatch).optional(),
  port: port.optional(),
  sourceLabels: labelMap.optional(),
  gateways: gatewayNames.optional(),
  ignoreUriCase: z.boolean().optional(),
  sourceNamespace: dnsLabel.optional(),
  statPrefix: z.string().optional(),
});

export const destination = strict({
  host: nonEmptyString.refine((h) => h !== '*', {
    error: 'the wildcard "*" is not a valid destination host',
  }),
  subset: dnsLabel.optional(),
  port: strict({ number: port.optional() }).optional(),
});

const headerOperations = strict({
  set: stringMap.optional(),
  add: stringMap.optional(),
  remove: z.array(z.string()).optional(),
});
const headers = strict({ request: headerOperations.optional(), response: headerOperations.optional() });

const httpRouteDestination = strict({ destination, weight: weight.optional(), headers: headers.optional() });

/** Istio: with several destinations, the weights must not all be zero. */
function checkWeights(
  list: Array<{ weight?: number | undefined }>,
  ctx: z.RefinementCtx,
  path: string[] = [],
) {
  if (list.length > 1 && list.every((d) => !d.weight)) {
    ctx.addIssue({
      code: 'custom',
      path,
      message: 'the weights of the destinations add up to 0; give at least one a weight',
    });
  }
}

const httpRedirect = strict({
  uri: z.string().optional(),
  authority: z.string().optional(),
  port: port.optional(),
  derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
  scheme: z
    .enum(['http', 'https'], { error: (iss) => `must be "http" or "https" (got ${show(iss.input)})` })
    .optional(),
  redirectCode: intRange(300, 399).optional(),
}).superRefine((r, ctx) => {
  if (
    r.uri === undefined &&
    r.authority === undefined &&
    r.port === undefined &&
    !r.derivePort &&
    !r.scheme
  ) {
    ctx.addIssue({
      code: 'custom',
      message: 'redirect must set at least one of uri, authority, port, derivePort or scheme',
    });
  }
});

const httpDirectResponse = strict({
  status: intRange(200, 599),
  body: strict({ string: z.string().optional(), bytes: z.string().optional() }).optional(),
});

const httpRewrite = strict({
  uri: z.string().optional(),
  authority: z.string().optional(),
  uriRegexRewrite: strict({ match: regex, rewrite: z.string() }).optional(),
}).superRefine((r, ctx) => {
  if (r.uri && r.uriRegexRewrite)
    ctx.addIssue({ code: 'custom', message: 'set only one of uri or uriRegexRewrite' });
  if (!r.uri && !r.uriRegexRewrite && !r.authority) {
    ctx.addIssue({
      code: 'custom',
      message: 'rewrite must set at least one of uri, uriRegexRewrite or authority',
    });
  }
});

// Envoy's retry-on policies (x-envoy-retry-on and x-envoy-retry-grpc-on); numbers are status codes.
const RETRY_ON = new Set(
  (
    '5xx gateway-error reset reset-before-request connect-failure retriable-4xx refused-stream retriable-status-codes ' +
    'retriable-headers envoy-ratelimited http3-post-connect-failure cancelled deadline-exceeded internal ' +
    'resource-exhausted unavailable'
  ).split(' '),
);

const httpRetry = strict({
  attempts: nonNegativeInt.optional(),
  perTryTimeout: duration.optional(),
  retryOn: z.string().optional(),
  retryRemoteLocalities: z.boolean().optional(),
  retryIgnorePreviousHosts: z.boolean().optional(),
  backoff: duration.optional(),
}).superRefine((r, ctx) => {
  for (const p of (r.retryOn ?? '').split(',').filter(Boolean)) {
    const code = Number(p.trim());
    if (!RETRY_ON.has(p.trim()) && !(Number.isInteger(code) && code >= 100 && code <= 599)) {
      ctx.addIssue({
        code: 'custom',
        path: ['retryOn'],
        message: `${show(p)} is not a valid retryOn policy`,
      });
    }
  }
  const configured =
    r.perTryTimeout !== undefined || r.retryOn !== undefined || r.retryRemoteLocalities !== undefined;
  if (r.attempts === 0 && configured) {
    ctx.addIssue({
      code: 'custom',
      path: ['attempts'],
      message: 'retries are disabled by attempts: 0 but other retry settings are set',
    });
  }
});

const httpFault = strict({
  delay: strict({
    fixedDelay: duration.optional(),
    exponentialDelay: duration.optional(),
    percentage: percent.optional(),
    percent: intRange(0, 100).optional(),
  })
    .superRefine((d, ctx) => {
      if (!d.fixedDelay && !d.exponentialDelay)
        ctx.addIssue({ code: 'custom', message: 'delay must set fixedDelay' });
    })
    .optional(),
  abort: strict({
    httpStatus: intRange(200, 599).optional(),
    grpcStatus: z.string().optional(),
    http2Error: z.string().optional(),
    percentage: percent.optional(),
  }).optional(),
}).superRefine((f, ctx) => {
  if (!f.delay && !f.abort) ctx.addIssue({ code: 'custom', message: 'fault must set abort, delay or both' });
});

const httpMirrorPolicy = strict({ destination, percentage: percent.optional() });

export const httpRoute = strict({
  name: z.string().optional(),
  match: z.array(httpMatchRequest).optional(),
  route: z.array(httpRouteDestination).optional(),
  redirect: httpRedirect.optional(),
  directResponse: httpDirectResponse.optional(),
  delegate: strict({ name: dnsLabel.optional(), namespace: dnsLabel.optional() }).optional(),
  rewrite: httpRewrite.optional(),
  timeout: duration.optional(),
  retries: httpRetry.optional(),
  fault: httpFault.optional(),
  mirror: destination.optional(),
  mirrors: z.array(httpMirrorPolicy).optional(),
  mirrorPercentage: percent.optional(),
  mirror_percent: intRange(0, 100).optional(),
  mirrorPercent: intRange(0, 100).optional(),
  corsPolicy: loose.optional(),
  headers: headers.optional(),
}).superRefine((r, ctx) => {
  const actions = (['route', 'redirect', 'directResponse', 'delegate'] as const).filter((k) =>
    k === 'route' ? (r.route?.length ?? 0) > 0 : r[k] !== undefined,
  );
  if (actions.length === 0) {
    ctx.addIssue({
      code: 'custom',
      message: 'an http route needs one of route, redirect, directResponse or delegate',
    });
  } else if (actions.length > 1) {
    ctx.addIssue({
      code: 'custom',
      message: `set only one of route, redirect, directResponse or delegate (got ${actions.join(' and ')})`,
    });
  }
  if (r.redirect && r.fault)
    ctx.addIssue({ code: 'custom', message: 'an http route cannot have both redirect and fault' });
  if (r.redirect && r.rewrite)
    ctx.addIssue({ code: 'custom', message: 'an http route cannot have both redirect and rewrite' });
  if (r.mirror && r.mirrors) ctx.addIssue({ code: 'custom', message: 'set only one of mirror or mirrors' });
  if (r.route) checkWeights(r.route, ctx, ['route']);
});

const _check: z.ZodType<HTTPRoute> = httpRoute;
void _check;

const routeDestination = strict({ destination, weight: weight.optional() });
const routeDestinations = z
  .array(routeDestination)
  .min(1, { error: 'must have at least one destination' })
  .superRefine((list, ctx) => checkWeights(list, ctx));

const l4Match = {
  destinationSubnets: z.array(z.string()).optional(),
  port: port.optional(),
  sourceLabels: labelMap.optional(),
  gateways: gatewayNames.optional(),
  sourceNamespace: dnsLabel.optional(),
};

export const tcpRoute = strict({ match: z.array(strict(l4Match)).optional(), route: routeDestinations });

export const tlsRoute = strict({
  match: z
    .array(
      strict({
        ...l4Match,
        sniHosts: z.array(nonEmptyString).min(1, { error: 'must have at least one SNI host' }),
      }),
    )
    .min(1, { error: 'a TLS route must have at least one match' }),
  route: routeDestinations,
});
