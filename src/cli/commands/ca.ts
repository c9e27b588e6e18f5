// `weft ca show` and `weft ca rotate-root`: the mesh CA's trust bundle, and replacing its root with an
// overlap. Also the CA flags `weft control-plane` and `weft up` share (plugged-in CA, workload TTL).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { MeshClient, type MeshFlags } from '../mesh-client.js';
import { printStructured, table, type OutputFormat } from '../output.js';
import { ErrorCodes, WeftError } from '../../lib/errors.js';
import { parseDuration } from '../../config/duration.js';
import { checkWorkloadTtl, formatMs, type CaInfo } from '../../control-plane/ca/authority.js';
import type { PluggedCaFiles } from '../../control-plane/ca/material.js';

/** Flags for the CA, on `weft control-plane` and `weft up`: `.option(...CA_OPTIONS.caCert)`. */
export const CA_OPTIONS = {
  workloadCertTtl: [
    '--workload-cert-ttl <duration>',
    'workload certificate lifetime, renewed at half life (default 24h, at most 2160h = 90 days)',
  ],
  certTtl: ['--cert-ttl <duration>', 'same as --workload-cert-ttl (older name)'],
  caCert: ['--ca-cert <file>', 'plugged-in CA: the signing CA certificate (Istio cacerts ca-cert.pem)'],
  caKey: ['--ca-key <file>', 'plugged-in CA: its private key (ca-key.pem)'],
  rootCert: ['--root-cert <file>', 'plugged-in CA: the root(s) proxies trust (root-cert.pem)'],
  certChain: [
    '--cert-chain <file>',
    'plugged-in CA: ca-cert then any intermediates up to the root (cert-chain.pem)',
  ],
} as const satisfies Record<string, readonly [string, string]>;

export interface CaFlags {
  workloadCertTtl?: string;
  certTtl?: string;
  caCert?: string;
  caKey?: string;
  rootCert?: string;
  certChain?: string;
}

/** The CA settings the flags ask for; WeftError on a bad combination or lifetime. */
export function caSettings(f: CaFlags): { certTtlMs: number; caFiles?: PluggedCaFiles } {
  const text = f.workloadCertTtl ?? f.certTtl ?? '24h';
  let certTtlMs: number;
  try {
    certTtlMs = parseDuration(text);
  } catch (e) {
    throw new WeftError(
      ErrorCodes.CA_TTL_INVALID,
      `--workload-cert-ttl: ${(e as Error).message}`,
      'use a duration such as 24h, 90m or 30s',
    );
  }
  checkWorkloadTtl(certTtlMs);
  if (!f.caCert && !f.caKey) {
    if (f.rootCert || f.certChain)
      throw new WeftError(
        ErrorCodes.CA_CERT_INVALID,
        '--root-cert and --cert-chain come with a plugged-in CA',
        'also pass --ca-cert and --ca-key (the CA that signs workload certificates)',
      );
    return { certTtlMs };
  }
  if (!f.caCert || !f.caKey)
    throw new WeftError(
      ErrorCodes.CA_CERT_INVALID,
      `--${f.caCert ? 'ca-key' : 'ca-cert'} is missing: a plugged-in CA needs its certificate and its key`,
      'pass --ca-cert FILE --ca-key FILE (and --root-cert, --cert-chain for an intermediate)',
    );
  return {
    certTtlMs,
    caFiles: {
      caCert: resolve(f.caCert),
      caKey: resolve(f.caKey),
      ...(f.rootCert ? { rootCert: resolve(f.rootCert) } : {}),
      ...(f.certChain ? { certChain: resolve(f.certChain) } : {}),
    },
  };
}

const day = (iso: string): string => iso.slice(0, 19).replace('T', ' ') + 'Z';

function printCa(info: CaInfo, heading?: string): void {
  const lines: string[] = [];
  if (heading) lines.push(heading, '');
  lines.push(
    `CA: ${info.mode === 'plugged' ? 'plugged-in (your CA signs)' : 'Weft-managed self-signed root'}, trust domain ${info.trustDomain}`,
    `Signing certificate: ${info.signer.subject} (issuer ${info.signer.issuer}), expires ${day(info.signer.notAfter)}`,
    `Workload certificates: ${formatMs(info.workloadCertTtlMs)} (max ${formatMs(info.maxWorkloadCertTtlMs)}), renewed at half life`,
    '',
    `Trust bundle (${info.roots.length} root${info.roots.length === 1 ? '' : 's'}):`,
    table(
      info.roots.map((r) => [
        r.subject,
        r.fingerprint,
        day(r.notAfter),
        [r.signing ? 'signing' : 'trusted', r.removeAt ? `leaves the bundle ${day(r.removeAt)}` : '']
          .filter(Boolean)
          .join(', '),
      ]),
      ['ROOT', 'SHA-256 FINGERPRINT', 'EXPIRES', 'STATUS'],
    ),
  );
  process.stdout.write(lines.join('\n') + '\n');
}

export function registerCa(program: Command, mesh: () => MeshFlags): void {
  const ca = program
    .command('ca')
    .description("the mesh certificate authority: its trust bundle, and root rotation (like istioctl's)");

  ca.command('show')
    .description(
      'the roots in the trust bundle (fingerprints, expiry, overlap), the signing CA and workload TTL',
    )
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action(async (o: { output: OutputFormat }) => {
      const client = await MeshClient.connect(mesh());
      const { status, body } = await client.call<CaInfo & { message?: string }>('GET', '/apis/v1/ca');
      if (status !== 200) throw new Error(body.message ?? `HTTP ${status}`);
      if (o.output === 'json' || o.output === 'yaml') return printStructured(body, o.output);
      printCa(body);
    });

  ca.command('token')
    .argument('<workload>', 'the Workload the token is for (its service account becomes the identity)')
    .description(
      'a single-use bootstrap token for `weft proxy` (WEFT_BOOTSTRAP_TOKEN or --token-file), valid 10 minutes',
    )
    .option('-n, --namespace <ns>', "the Workload's namespace", 'default')
    .option('--instance <id>', 'the proxy id it is for (default WORKLOAD-0.NAMESPACE)')
    .action(async (workload: string, o: { namespace: string; instance?: string }) => {
      const client = await MeshClient.connect(mesh());
      const { status, body } = await client.call<{ token?: string; code?: string; message?: string }>(
        'POST',
        '/apis/v1/tokens',
        { workload, namespace: o.namespace, ...(o.instance ? { instance: o.instance } : {}) },
      );
      if (status !== 200 || !body.token)
        throw new WeftError(
          ErrorCodes.CONFIG_NOT_FOUND,
          body.message ?? `HTTP ${status}`,
          '`weft get workloads` lists them; apply the Workload first',
        );
      process.stdout.write(`${body.token}\n`);
    });

  ca.command('rotate-root')
    .description(
      'replace the self-signed root: new certificates come from a new root at once; the old root stays in the ' +
        'trust bundle for the overlap (at least the workload certificate lifetime), then leaves it',
    )
    .option('--overlap <duration>', 'how long the old root stays trusted', '24h')
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action(async (o: { overlap: string; output: OutputFormat }) => {
      const client = await MeshClient.connect(mesh());
      const { status, body } = await client.call<CaInfo & { code?: string; message?: string; hint?: string }>(
        'POST',
        '/apis/v1/ca/rotate-root',
        { overlap: o.overlap },
      );
      if (status !== 200) {
        const code = Object.values(ErrorCodes).find((c) => c === body.code) ?? ErrorCodes.CA_ROTATION_REFUSED;
        throw new WeftError(code, body.message ?? `HTTP ${status}`, body.hint);
      }
      if (o.output === 'json' || o.output === 'yaml') return printStructured(body, o.output);
      const old = body.roots.find((r) => r.removeAt);
      printCa(
        body,
        `Root rotated: new certificates come from ${body.roots[0]?.fingerprint}.` +
          (old
            ? ` The previous root stays trusted until ${day(old.removeAt!)}; proxies renew onto the new root before then.`
            : ''),
      );
    });
}
