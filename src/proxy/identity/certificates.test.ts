import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkloadIdentity, splitCertificates } from './certificates.js';
import { generateKeyAndCsr } from './csr.js';
import { CertificateAuthority } from '../../control-plane/ca/authority.js';

const ID = 'spiffe://cluster.local/ns/default/sa/reviews';

test('the trust bundle: every root of rootPem is trusted on both sides, and rotation swaps it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'weft-identity-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate(dir, { trustDomain: 'cluster.local' });
  t.after(() => ca.close());
  const id = new WorkloadIdentity();
  const rotated: unknown[] = [];
  id.on('rotated', (m) => rotated.push(m));
  const install = async () => {
    const { keyPem, csrPem } = await generateKeyAndCsr(ID);
    const signed = await ca.signCsr(csrPem, ID);
    // What the control client does with a Certificate response: rootCert is the bundle as one PEM text.
    id.set({ keyPem, certChain: signed.certChainPem, rootPem: signed.trustBundle.join('') });
  };
  await install();
  assert.deepEqual(id.trustBundle, [ca.rootCertPem]);
  await ca.rotateRoot({ overlapMs: 24 * 3600e3 });
  await install();
  assert.equal(rotated.length, 2);
  assert.equal(id.trustBundle.length, 2);
  assert.deepEqual(id.serverOptions().ca, ca.trustBundle());
  assert.deepEqual(id.clientOptions().ca, ca.trustBundle());
  assert.equal(splitCertificates(id.current.rootPem).length, 2);
  assert.equal(id.current.certChain.length, 2, 'leaf and the cross-signed root');
  assert.ok(id.clientContext);
  assert.throws(
    () => id.set({ keyPem: '', certChain: [], rootPem: 'no certificate here' }),
    /no certificate/,
  );
});
