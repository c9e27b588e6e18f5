// kubectl-style names for kinds: singular, plural and short forms, any case.
import type { Kind } from '../../config/types.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';

const ALIASES: Record<string, Kind> = {
  workload: 'Workload',
  workloads: 'Workload',
  wl: 'Workload',
  service: 'Service',
  services: 'Service',
  svc: 'Service',
  virtualservice: 'VirtualService',
  virtualservices: 'VirtualService',
  vs: 'VirtualService',
  destinationrule: 'DestinationRule',
  destinationrules: 'DestinationRule',
  dr: 'DestinationRule',
  gateway: 'Gateway',
  gateways: 'Gateway',
  gw: 'Gateway',
};

export function kindFromArg(arg: string): Kind | 'all' {
  if (arg.toLowerCase() === 'all') return 'all';
  const k = ALIASES[arg.toLowerCase().replace(/\..*$/, '')];
  if (!k)
    throw new WeftError(
      ErrorCodes.CONFIG_UNKNOWN_KIND,
      `unknown resource type "${arg}"`,
      `use one of: ${[...new Set(Object.values(ALIASES))].join(', ')} (or short names such as vs, dr, gw, svc)`,
    );
  return k;
}
