// JWT helpers for end-to-end tests: Istio's sample tokens and key set (../shared/fixtures/istio-samples/jwt),
// keys and tokens signed here with jose, a token with a tampered payload, and a local HTTP server that
// serves a JWKS for RequestAuthentication's jwksUri and counts how often proxies fetch it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { fixture } from './paths.js';

/** Istio's samples: demo.jwt (sub testing@secure.istio.io), groups-scope.jwt (groups and scope lists). */
export const ISTIO_ISSUER = 'testing@secure.istio.io';
export const istioJwks = (): string => readFileSync(fixture('istio-samples', 'jwt', 'jwks.json'), 'utf8');
export const istioToken = (name: 'demo.jwt' | 'groups-scope.jwt'): string =>
  readFileSync(fixture('istio-samples', 'jwt', name), 'utf8').trim();

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** The public key as a JWKS lists it. */
  jwk: JWK;
}

export async function makeSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A compact RS256 JWT; `iat` and a one-hour `exp` unless the payload sets them. */
export function signToken(key: SigningKey, payload: Record<string, unknown>): Promise<string> {
  return new SignJWT({ iat: nowSeconds(), exp: nowSeconds() + 3600, ...payload })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
    .sign(key.privateKey);
}

const b64url = (s: string) => Buffer.from(s).toString('base64url');

/** The token with its payload rewritten (signature kept): a forgery no key verifies. */
export function tamperPayload(token: string, change: Record<string, unknown>): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
  return `${h}.${b64url(JSON.stringify({ ...payload, ...change }))}.${s}`;
}

/** The payload segment decoded. */
export function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
}

export interface JwksServer {
  /** http://127.0.0.1:<port>/jwks.json */
  url: string;
  fetches: number;
  close(): Promise<void>;
}

export async function startJwksServer(...keys: SigningKey[]): Promise<JwksServer> {
  const body = JSON.stringify({ keys: keys.map((k) => k.jwk) });
  const state = { fetches: 0 };
  const server = http.createServer((req, res) => {
    if (req.url !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    state.fetches++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/jwks.json`,
    get fetches() {
      return state.fetches;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
