// Where a proxy finds a new bootstrap token once its certificate is no longer accepted: it expired while
// the process was stopped, the machine slept or the control plane was away for longer than its lifetime,
// or its root left the trust bundle meanwhile. Renewals authenticate with the current certificate, so
// without a new token such a proxy could never get another one. As with Kubernetes' projected
// service-account token, which kubelet keeps fresh and istio-agent reads again, the token comes from
// whoever runs the proxy:
// - `weft up`, its parent, issues one over the IPC channel, bound to the workload it launched;
// - with `--token-file`, the file is read again: whoever provisions the proxy writes a new token there.
import { readFile } from 'node:fs/promises';
import { ErrorCodes, WeftError } from '../../lib/errors.js';

/** A new single-use bootstrap token, or a WeftError saying why there is none. */
export type TokenSource = () => Promise<string>;

/** What a proxy sends its parent for a token, and the answer. */
export interface TokenRequest {
  type: 'token-request';
}
export interface TokenReply {
  type: 'token';
  token?: string;
  error?: string;
}

const HINT = 'restart the proxy with a new bootstrap token (WEFT_BOOTSTRAP_TOKEN or --token-file)';

/** Set by `weft up` for the proxies it starts: another parent with an IPC channel (a process manager)
 *  would not answer. */
export const TOKEN_FROM_PARENT_ENV = 'WEFT_TOKEN_FROM_PARENT';

/** Asks the parent process (`weft up`) over the IPC channel; undefined unless weft up is the parent. */
export function parentTokenSource(timeoutMs = 10_000): TokenSource | undefined {
  if (!process.send || process.env[TOKEN_FROM_PARENT_ENV] !== '1') return undefined;
  return () =>
    new Promise<string>((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        process.off('message', onMessage);
        fn();
      };
      const onMessage = (m: unknown) => {
        const reply = m as Partial<TokenReply> | null;
        if (reply?.type !== 'token') return;
        if (reply.token) done(() => resolve(reply.token!));
        else
          done(() =>
            reject(
              new WeftError(
                ErrorCodes.PROXY_CERT_UNRENEWABLE,
                `weft up issued no bootstrap token: ${reply.error ?? 'no reason given'}`,
                HINT,
              ),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          done(() =>
            reject(
              new WeftError(
                ErrorCodes.PROXY_CERT_UNRENEWABLE,
                `weft up did not answer a request for a bootstrap token within ${timeoutMs} ms`,
                HINT,
              ),
            ),
          ),
        timeoutMs,
      );
      process.on('message', onMessage);
      process.send!({ type: 'token-request' } satisfies TokenRequest);
    });
}

/** Reads `path` again; a token already spent (the one read before) is refused with a next step. */
export function fileTokenSource(path: string, spent: string | undefined): TokenSource {
  let last = spent;
  return async () => {
    let token: string;
    try {
      token = (await readFile(path, 'utf8')).trim();
    } catch (e) {
      throw new WeftError(
        ErrorCodes.PROXY_CERT_UNRENEWABLE,
        `cannot read the bootstrap token file ${path}: ${(e as Error).message}`,
        HINT,
      );
    }
    if (!token || token === last)
      throw new WeftError(
        ErrorCodes.PROXY_CERT_UNRENEWABLE,
        token
          ? `the bootstrap token in ${path} was used already`
          : `the bootstrap token file ${path} is empty`,
        `write a new one there (\`weft ca token WORKLOAD -n NAMESPACE > ${path}\`); the proxy reads it again on its next attempt`,
      );
    last = token;
    return token;
  };
}
