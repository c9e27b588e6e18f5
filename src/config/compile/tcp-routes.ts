// VirtualService `tcp` rules for sidecars (Istio's "TCP traffic shifting"): on a service port that speaks
// opaque TCP, the first rule whose match fits the port, the client's labels and the mesh gateway decides
// where the connection goes, by weight. Apps reach such ports through the sidecar with HTTP CONNECT, so
// the rule compiles to an ordinary route that the CONNECT request takes.
import type { Route } from '../../model/snapshot.js';
import type { VirtualService } from '../types.js';
import { destinationCluster, type TcpRule } from './gateway-tls.js';
import { labelsMatch, type MeshIndex } from './inputs.js';

/** The route for one service port from a mesh VirtualService's tcp rules, or undefined when none fits. */
export function meshTcpRoute(
  vs: VirtualService,
  index: MeshIndex,
  port: number,
  sourceLabels: Record<string, string>,
): Route | undefined {
  const rules = (vs.spec.tcp ?? []) as TcpRule[];
  for (const [i, rule] of rules.entries()) {
    const fits =
      !rule.match?.length ||
      rule.match.some(
        (m) =>
          (m.port === undefined || m.port === port) &&
          (!m.gateways?.length || m.gateways.includes('mesh')) &&
          (!m.sourceLabels || labelsMatch(m.sourceLabels, sourceLabels)),
      );
    if (!fits) continue;
    const dests = rule.route ?? [];
    return {
      name: `VirtualService/${vs.metadata.namespace}/${vs.metadata.name}#tcp[${i}]`,
      matches: [],
      action: {
        kind: 'forward',
        clusters: dests.map((d) => ({
          cluster: destinationCluster(d.destination, vs.metadata.namespace, index, port),
          weight: d.weight ?? (dests.length === 1 ? 100 : 0),
        })),
      },
    };
  }
  return undefined;
}
