// Child process of csr-process.ts: prints a fresh key and CSR for the SPIFFE ID in argv as JSON.
import { generateKeyAndCsr } from './csr.js';

const id = process.argv[2];
if (!id) {
  process.stderr.write('usage: csr-main SPIFFE_ID\n');
  process.exit(2);
}
process.stdout.write(JSON.stringify(await generateKeyAndCsr(id)));
