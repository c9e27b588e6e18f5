// A proxy makes its key and CSR in a short-lived child process. @peculiar/x509 (with tsyringe and the
// ASN.1 schemas it pulls in) adds about 15 MB of resident memory to a Node process and keeps it; a proxy
// needs it once per certificate (at start, then every half lifetime), so it runs where that memory goes
// away again. The private key crosses only the pipe between the proxy and its own child.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { lowerProcess } from '../helper-threads.js';

const MAIN = fileURLToPath(new URL('./csr-main.js', import.meta.url));
const TIMEOUT_MS = 30_000;

/**
 * `nice` > 0 runs the child at that lower CPU priority: for a CSR made ahead of need, which should take
 * only CPU the proxies around it leave idle (a Node start is ~0.2 s of CPU).
 */
export function generateKeyAndCsrIsolated(
  spiffeId: string,
  nice = 0,
): Promise<{ keyPem: string; csrPem: string }> {
  return new Promise((resolve, reject) => {
    // No inherited Node flags (a --cpu-prof given to the proxy is not meant for this child).
    const child = execFile(
      process.execPath,
      [MAIN, spiffeId],
      { timeout: TIMEOUT_MS, maxBuffer: 1 << 20, env: { PATH: process.env.PATH ?? '' } },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`cannot make a key and CSR: ${stderr.trim() || err.message}`));
        try {
          resolve(JSON.parse(stdout) as { keyPem: string; csrPem: string });
        } catch (e) {
          reject(new Error(`cannot make a key and CSR: ${(e as Error).message}`));
        }
      },
    );
    if (nice > 0 && child.pid !== undefined) lowerProcess(child.pid, nice);
  });
}
