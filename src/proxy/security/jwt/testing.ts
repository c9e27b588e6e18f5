// Test helpers for the JWT tests: signing keys and tokens made with jose, a JwtRule with Istio's
// defaults, and a real local HTTP server that serves a JWKS and counts how often it is fetched.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, generateSecret, SignJWT, type CryptoKey, type JWK } from 'jose';
import type { JwtRule } from '../../../model/security.js';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey | Uint8Array;
  /** The public JWK as a JWKS lists it. */
  jwk: JWK;
}

export async function makeKey(
  kid: string,
  alg: 'RS256' | 'ES256' | 'PS256' | 'EdDSA' = 'RS256',
): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, jwk };
}

export async function makeHmacKey(kid: string, alg: 'HS256' = 'HS256'): Promise<TestKey> {
  const secret = (await generateSecret(alg, { extractable: true })) as CryptoKey;
  const jwk = { ...(await exportJWK(secret)), kid, alg };
  return { kid, alg, privateKey: secret, jwk };
}

export function jwksOf(...keys: TestKey[]): string {
  return JSON.stringify({ keys: keys.map((k) => k.jwk) });
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Signs a payload as a compact JWT; `kid: null` leaves the kid out of the header. */
export async function sign(
  key: TestKey,
  payload: Record<string, unknown>,
  header: { kid?: string | null; alg?: string } = {},
): Promise<string> {
  const kid = header.kid === null ? undefined : (header.kid ?? key.kid);
  return new SignJWT(payload)
    .setProtectedHeader({ alg: header.alg ?? key.alg, typ: 'JWT', ...(kid !== undefined ? { kid } : {}) })
    .sign(key.privateKey);
}

/** A JwtRule as the compiler makes it from a RequestAuthentication rule that only sets `issuer`. */
export function rule(issuer: string, over: Partial<JwtRule> = {}): JwtRule {
  return {
    issuer,
    audiences: [],
    fromHeaders: [],
    fromParams: [],
    fromCookies: [],
    outputClaimToHeaders: [],
    forwardOriginalToken: false,
    timeoutMs: 5000,
    ...over,
  };
}

/**
 * Serves `body` at /jwks.json with `status`, and an OpenID configuration pointing at it for the issuer
 * `http://127.0.0.1:<port>`; `hang` holds requests without answering.
 */
export class JwksServer {
  body = '{"keys":[]}';
  status = 200;
  hang = false;
  hits = 0;
  discoveryHits = 0;
  private server = http.createServer((req, res) => {
    this.hits++;
    if (this.hang) return;
    res.writeHead(this.status, { 'content-type': 'application/json' });
    if (req.url === '/.well-known/openid-configuration') {
      this.discoveryHits++;
      res.end(JSON.stringify({ issuer: this.issuer, jwks_uri: this.uri }));
      return;
    }
    res.end(this.body);
  });
  private port = 0;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get uri(): string {
    return `http://127.0.0.1:${this.port}/jwks.json`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Waits until `cond` holds, polling every 10 ms, failing after `ms`. */
export async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
