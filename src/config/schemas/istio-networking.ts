// networking.istio.io (v1, v1beta1, v1alpha3 share one schema): VirtualService, DestinationRule, Gateway.
// Every upstream field is listed so that strict validation accepts real Istio YAML; the checks follow
// Istio's webhook (pkg/config/validation/validation.go). Route pieces live in istio-routes.ts.
import { z } from 'zod';
import type { DestinationRuleSpec, GatewaySpec, TrafficPolicy, VirtualServiceSpec } from '../types.js';
import {
  dnsLabel,
  duration,
  exportTo,
  tcpKeepalive,
  intRange,
  labelMap,
  loose,
  nonEmptyString,
  numberRange,
  port,
  resource,
  show,
  strict,
} from './common.js';
import { httpRoute, tcpRoute, tlsRoute } from './istio-routes.js';
import { localityLbSetting } from './istio-destination-rule-locality.js';

export const ISTIO_NETWORKING_API_VERSIONS = [
  'networking.istio.io/v1',
  'networking.istio.io/v1beta1',
  'networking.istio.io/v1alpha3',
] as const;

// ---- VirtualService ---------------------------------------------------------------------------------

export const virtualServiceSpec = strict({
  hosts: z.array(nonEmptyString).optional(),
  gateways: z.array(nonEmptyString).optional(),
  http: z.array(httpRoute).optional(),
  tls: z.array(tlsRoute).optional(),
  tcp: z.array(tcpRoute).optional(),
  exportTo: exportTo.optional(),
}).superRefine((vs, ctx) => {
  const hosts = vs.hosts ?? [];
  const gateways = vs.gateways ?? [];
  if (!vs.http?.length && !vs.tcp?.length && !vs.tls?.length) {
    ctx.addIssue({ code: 'custom', message: 'a VirtualService needs at least one http, tcp or tls route' });
  }
  if (hosts.length === 0) {
    // No hosts means a delegate VirtualService, which only an http route's `delegate` can use.
    if (gateways.length)
      ctx.addIssue({
        code: 'custom',
        path: ['gateways'],
        message: 'a delegate VirtualService (no hosts) cannot name gateways',
      });
    if (vs.tcp?.length)
      ctx.addIssue({
        code: 'custom',
        path: ['tcp'],
        message: 'a delegate VirtualService (no hosts) cannot have tcp routes',
      });
    if (vs.tls?.length)
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: 'a delegate VirtualService (no hosts) cannot have tls routes',
      });
  }
  const meshBound = gateways.length === 0 || gateways.includes('mesh');
  hosts.forEach((h, i) => {
    if (h === '*' && meshBound) {
      ctx.addIssue({
        code: 'custom',
        path: ['hosts', i],
        message: 'the wildcard host "*" is only allowed on a VirtualService bound to gateways (not "mesh")',
      });
    }
    if (hosts.indexOf(h) !== i)
      ctx.addIssue({ code: 'custom', path: ['hosts', i], message: `duplicate host ${show(h)}` });
  });
});

const _vs: z.ZodType<VirtualServiceSpec> = virtualServiceSpec;
void _vs;

// ---- DestinationRule --------------------------------------------------------------------------------

const loadBalancer = strict({
  simple: z
    .enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'], {
      error: (iss) =>
        `must be one of ROUND_ROBIN, LEAST_REQUEST, LEAST_CONN, RANDOM, PASSTHROUGH (got ${show(iss.input)})`,
    })
    .optional(),
  consistentHash: loose.optional(),
  localityLbSetting: localityLbSetting.optional(),
  warmupDurationSecs: duration.optional(),
  warmup: strict({
    duration,
    minimumPercent: numberRange(0, 100).optional(),
    aggression: z
      .number()
      .refine((v) => v >= 1, { error: (iss) => `must be 1 or more (got ${show(iss.input)})` })
      .optional(),
  }).optional(),
}).superRefine((lb, ctx) => {
  if (lb.simple && lb.consistentHash)
    ctx.addIssue({ code: 'custom', message: 'set only one of simple or consistentHash' });
  if (lb.warmup && lb.warmupDurationSecs)
    ctx.addIssue({ code: 'custom', message: 'set only one of warmup or warmupDurationSecs' });
});

const clientTls = strict({
  mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
  clientCertificate: z.string().optional(),
  privateKey: z.string().optional(),
  caCertificates: z.string().optional(),
  credentialName: z.string().optional(),
  subjectAltNames: z.array(z.string()).optional(),
  sni: z.string().optional(),
  insecureSkipVerify: z.boolean().optional(),
  caCrl: z.string().optional(),
});

// connectionPool is taken as Istio writes it; only the enum and the keep-alive Weft acts on are checked here.
const connectionPool = z.looseObject({
  tcp: z.looseObject({ tcpKeepalive: tcpKeepalive.optional() }).optional(),
  http: z
    .looseObject({
      h2UpgradePolicy: z
        .enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'], {
          error: (iss) => `must be one of DEFAULT, DO_NOT_UPGRADE, UPGRADE (got ${show(iss.input)})`,
        })
        .optional(),
    })
    .optional(),
});

const policyFields = {
  loadBalancer: loadBalancer.optional(),
  connectionPool: connectionPool.optional(),
  outlierDetection: loose.optional(),
  tls: clientTls.optional(),
};

const portTrafficPolicy = strict({ port: strict({ number: port }), ...policyFields }).superRefine(
  (p, ctx) => {
    if (!p.loadBalancer && !p.connectionPool && !p.outlierDetection && !p.tls) {
      ctx.addIssue({
        code: 'custom',
        message: 'a port traffic policy needs at least one setting besides port',
      });
    }
  },
);

const trafficPolicy = strict({
  ...policyFields,
  portLevelSettings: z.array(portTrafficPolicy).optional(),
  tunnel: strict({
    protocol: z.enum(['CONNECT', 'POST']).optional(),
    targetHost: nonEmptyString,
    targetPort: port,
  }).optional(),
  proxyProtocol: strict({ version: z.enum(['V1', 'V2']).optional() }).optional(),
}).superRefine((tp, ctx) => {
  if (Object.values(tp).every((v) => v === undefined)) {
    ctx.addIssue({ code: 'custom', message: 'a traffic policy needs at least one setting' });
  }
  if (tp.tunnel && tp.proxyProtocol)
    ctx.addIssue({ code: 'custom', message: 'set only one of tunnel or proxyProtocol' });
});

const _tp: z.ZodType<TrafficPolicy> = trafficPolicy;
void _tp;

const subset = strict({
  name: dnsLabel,
  labels: labelMap.optional(),
  trafficPolicy: trafficPolicy.optional(),
});

export const destinationRuleSpec = strict({
  host: nonEmptyString,
  trafficPolicy: trafficPolicy.optional(),
  subsets: z.array(subset).optional(),
  exportTo: exportTo.optional(),
  workloadSelector: strict({ matchLabels: labelMap.optional() }).optional(),
}).superRefine((dr, ctx) => {
  const seen = new Set<string>();
  dr.subsets?.forEach((s, i) => {
    if (seen.has(s.name))
      ctx.addIssue({
        code: 'custom',
        path: ['subsets', i, 'name'],
        message: `duplicate subset name ${show(s.name)}`,
      });
    seen.add(s.name);
  });
});

const _dr: z.ZodType<DestinationRuleSpec> = destinationRuleSpec;
void _dr;

// ---- Gateway ----------------------------------------------------------------------------------------

const PROTOCOLS = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'REDIS', 'MYSQL', 'TCP', 'TLS'];

const serverTls = z.looseObject({
  httpsRedirect: z.boolean().optional(),
  mode: z
    .enum(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'])
    .optional(),
});

const server = strict({
  name: z.string().optional(),
  port: strict({
    number: port,
    protocol: z.string().refine((p) => PROTOCOLS.includes(p.toUpperCase()), {
      error: (iss) => `must be one of ${PROTOCOLS.join(', ')} (got ${show(iss.input)})`,
    }),
    name: nonEmptyString,
    targetPort: intRange(1, 65535).optional(),
  }),
  bind: z.string().optional(),
  hosts: z.array(nonEmptyString).min(1, { error: 'a server needs at least one host (use "*" for any)' }),
  tls: serverTls.optional(),
  defaultEndpoint: z.string().optional(),
}).superRefine((s, ctx) => {
  const proto = s.port.protocol.toUpperCase();
  if ((proto === 'HTTPS' || proto === 'TLS') && !s.tls) {
    ctx.addIssue({ code: 'custom', path: ['tls'], message: `a ${proto} server needs tls settings` });
  }
});

export const gatewaySpec = strict({
  selector: z.record(z.string(), z.string()).optional(),
  servers: z.array(server).min(1, { error: 'a Gateway needs at least one server' }),
}).superRefine((gw, ctx) => {
  const names = new Set<string>();
  gw.servers.forEach((s, i) => {
    if (names.has(s.port.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['servers', i, 'port', 'name'],
        message: `duplicate port name ${show(s.port.name)}`,
      });
    }
    names.add(s.port.name);
  });
});

const _gw: z.ZodType<GatewaySpec> = gatewaySpec;
void _gw;

export const virtualServiceResource = resource('VirtualService', virtualServiceSpec);
export const destinationRuleResource = resource('DestinationRule', destinationRuleSpec);
// Istio requires Gateway names to be DNS labels (no dots): VirtualServices refer to them as ns/name.
export const gatewayResource = resource('Gateway', gatewaySpec, dnsLabel);
