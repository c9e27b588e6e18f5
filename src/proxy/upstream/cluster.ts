// A cluster as the data path uses it: healthy endpoints, a balancer, and per endpoint the identity
// check its TLS peer must pass. Built once per snapshot.
import type { PeerCertificate } from 'node:tls';
import type { Cluster, Endpoint } from '../../model/snapshot.js';
import { certSpiffeId } from '../../lib/spiffe.js';
import type { Balancer } from './balancers/balancer.js';
import { RoundRobin } from './balancers/round-robin.js';
import { RandomBalancer } from './balancers/random.js';
import { LeastRequest } from './balancers/least-request.js';

export type IdentityCheck = (host: string, cert: PeerCertificate) => Error | undefined;

export class ClusterRuntime {
  readonly healthy: Endpoint[];
  private readonly balancer: Balancer;
  private readonly inflight = new Map<string, number>();
  private readonly checks = new Map<string, IdentityCheck>();

  constructor(readonly cluster: Cluster) {
    this.healthy = cluster.endpoints.filter((e) => e.healthy);
    this.balancer =
      cluster.lbPolicy === 'RANDOM'
        ? new RandomBalancer()
        : cluster.lbPolicy === 'LEAST_REQUEST'
          ? new LeastRequest((ep) => this.inflight.get(ep.instance) ?? 0)
          : new RoundRobin();
    for (const ep of cluster.endpoints) this.checks.set(ep.instance, identityCheck(ep.identity));
  }

  pick(): Endpoint | undefined {
    return this.balancer.pick(this.healthy);
  }

  /** Verifies the server certificate carries the SPIFFE ID the control plane said this endpoint has. */
  identityCheck(ep: Endpoint): IdentityCheck {
    return this.checks.get(ep.instance) ?? identityCheck(ep.identity);
  }

  started(ep: Endpoint): void {
    this.inflight.set(ep.instance, (this.inflight.get(ep.instance) ?? 0) + 1);
  }
  finished(ep: Endpoint): void {
    this.inflight.set(ep.instance, Math.max(0, (this.inflight.get(ep.instance) ?? 1) - 1));
  }
}

function identityCheck(expected: string): IdentityCheck {
  return (_host, cert) => {
    const got = certSpiffeId(cert);
    return got === expected
      ? undefined
      : Object.assign(new Error(`peer identity ${got ?? '(none)'} is not the expected ${expected}`), {
          code: 'ERR_WEFT_PEER_IDENTITY',
        });
  };
}
