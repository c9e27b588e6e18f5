// A throwaway CA, a server certificate for the inner hop (SAN b.bench and 127.0.0.1) and a client
// certificate for the outer hop, all ECDSA P-256 like Weft's workload certificates, made with the openssl
// CLI into the run's temp dir. nginx and HAProxy verify both sides against the CA (mTLS).
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Certs {
  dir: string;
  ca: string; // CA certificate (PEM)
  serverCert: string;
  serverKey: string;
  serverPem: string; // cert + key, for HAProxy `crt`
  clientCert: string;
  clientKey: string;
  clientPem: string;
  serverName: string;
}

export function makeCerts(dir: string): Certs {
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (f: string) =>
    ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(f));
  key('ca.key');
  ssl(
    'req',
    '-x509',
    '-new',
    '-key',
    p('ca.key'),
    '-subj',
    '/CN=weft-bench CA',
    '-days',
    '2',
    '-out',
    p('ca.crt'),
    '-addext',
    'basicConstraints=critical,CA:true',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  const leaf = (name: string, cn: string, ext: string) => {
    key(`${name}.key`);
    ssl('req', '-new', '-key', p(`${name}.key`), '-subj', `/CN=${cn}`, '-out', p(`${name}.csr`));
    writeFileSync(p(`${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      p(`${name}.ext`),
      '-out',
      p(`${name}.crt`),
    );
    writeFileSync(
      p(`${name}.pem`),
      readFileSync(p(`${name}.crt`), 'utf8') + readFileSync(p(`${name}.key`), 'utf8'),
    );
  };
  const serverName = 'b.bench';
  leaf('server', serverName, `subjectAltName=DNS:${serverName},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  leaf('client', 'a.bench', 'subjectAltName=DNS:a.bench\nextendedKeyUsage=clientAuth\n');
  return {
    dir,
    ca: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    serverPem: p('server.pem'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    clientPem: p('client.pem'),
    serverName,
  };
}

/**
 * A client certificate for weft's inbound listener, signed by the mesh's own CA (`<stateDir>/ca`), with the
 * SPIFFE identity of `sa` in `ns`: what a sidecar presents, so the handshake test reaches weft's mTLS path.
 */
export function weftClientCert(
  dir: string,
  caDir: string,
  ns: string,
  sa: string,
): { cert: string; key: string } {
  const p = (f: string) => join(dir, f);
  const ssl = (...args: string[]) =>
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('weft-client.key'));
  ssl('req', '-new', '-key', p('weft-client.key'), '-subj', '/O=cluster.local', '-out', p('weft-client.csr'));
  writeFileSync(
    p('weft-client.ext'),
    `subjectAltName=critical,URI:spiffe://cluster.local/ns/${ns}/sa/${sa}\nextendedKeyUsage=clientAuth,serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n`,
  );
  ssl(
    'x509',
    '-req',
    '-in',
    p('weft-client.csr'),
    '-CA',
    join(caDir, 'ca-cert.pem'),
    '-CAkey',
    join(caDir, 'ca-key.pem'),
    '-CAcreateserial',
    '-CAserial',
    p('weft-ca.srl'),
    '-days',
    '1',
    '-extfile',
    p('weft-client.ext'),
    '-out',
    p('weft-client.crt'),
  );
  return { cert: p('weft-client.crt'), key: p('weft-client.key') };
}
