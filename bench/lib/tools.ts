// The external tools the suite drives. Missing ones are installed from Debian packages by the bench
// itself (`apt-get install`), with Debian's policy-rc.d switch (exit 101: "do not start services from
// maintainer scripts") so the packages' own nginx/HAProxy services never start on port 80. The switch is
// added only if none exists and removed only if we added it (same pattern as .ci/run).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const PACKAGES: Record<string, string> = {
  nginx: 'nginx',
  haproxy: 'haproxy',
  wrk: 'wrk',
  h2load: 'nghttp2-client',
  taskset: 'util-linux',
  openssl: 'openssl',
};

export function which(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Installs whatever of nginx, haproxy, wrk, h2load, taskset, openssl (and `extra`: command -> Debian
 *  package) is missing. Returns what it installed. */
export function ensureTools(log: (s: string) => void, extra: Record<string, string> = {}): string[] {
  const packages = { ...PACKAGES, ...extra };
  const missing = Object.keys(packages).filter((c) => !which(c));
  if (missing.length === 0) return [];
  const pkgs = [...new Set(missing.map((c) => packages[c]!))];
  log(`installing ${pkgs.join(' ')} (missing: ${missing.join(', ')})`);
  const root = process.getuid?.() === 0;
  const sudo = root ? [] : ['sudo'];
  if (!root && !which('sudo'))
    throw new Error(`missing ${missing.join(', ')} and not root: install ${pkgs.join(' ')}`);
  const run = (args: string[]) =>
    execFileSync(sudo[0] ?? args[0]!, sudo.length ? args : args.slice(1), {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  const POLICY = '/usr/sbin/policy-rc.d';
  const added = !existsSync(POLICY);
  try {
    if (added) run(['sh', '-c', `printf '#!/bin/sh\\nexit 101\\n' > ${POLICY} && chmod +x ${POLICY}`]);
    run(['apt-get', 'update', '-qq']);
    run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', ...pkgs]);
  } finally {
    if (added) run(['rm', '-f', POLICY]);
  }
  const still = missing.filter((c) => !which(c));
  if (still.length) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
  return pkgs;
}

/** Versions for the report. */
export function versions(): Record<string, string> {
  const v = (cmd: string, args: string[], re: RegExp) => {
    try {
      const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      return re.exec(out)?.[1] ?? out.split('\n')[0]!.trim();
    } catch (e) {
      // nginx -v prints to stderr
      const err = (e as { stderr?: string }).stderr ?? '';
      return re.exec(err)?.[1] ?? 'unknown';
    }
  };
  return {
    nginx: v('sh', ['-c', 'nginx -v 2>&1'], /nginx\/(\S+)/),
    haproxy: v('haproxy', ['-v'], /version (\S+)/),
    wrk: v('sh', ['-c', 'wrk --version 2>&1 || true'], /wrk (\S+)/),
    h2load: v('h2load', ['--version'], /nghttp2\/(\S+)/),
    openssl: v('openssl', ['version'], /OpenSSL (\S+)/),
  };
}
