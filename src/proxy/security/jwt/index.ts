// JWT request authentication (Istio RequestAuthentication, Envoy jwt_authn semantics).
export { JwtAuthenticator, type JwtAuthenticatorOptions, type JwtResult } from './authenticator.js';
export { claimHeaderValue, claimsAt, claimStrings } from './claims.js';
export { JwksCache, KeyStore, sharedJwksCache, type JwksCacheOptions, type JwksStats } from './jwks.js';
export { removeQueryParams } from './locations.js';
export { JwtStatus, statusCodeFor, wwwAuthenticate } from './status.js';
