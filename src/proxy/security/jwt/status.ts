// Envoy's jwt_authn failure messages, word for word: they are the local reply body Envoy sends (and the
// text in its logs and response details), from jwt_verify_lib's getStatusString (src/status.cc).
// Every failure is a 401 except "Audiences in Jwt are not allowed", which Envoy's filter answers with 403
// (jwt_authn filter.cc, onComplete).

export const JwtStatus = {
  JwtMissed: 'Jwt is missing',
  JwtNotYetValid: 'Jwt not yet valid',
  JwtExpired: 'Jwt is expired',
  JwtBadFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  JwtHeaderParseErrorBadBase64: 'Jwt header is an invalid Base64url encoded',
  JwtHeaderParseErrorBadJson: 'Jwt header is an invalid JSON',
  JwtHeaderBadAlg: 'Jwt header [alg] field is required and must be a string',
  JwtHeaderNotImplementedAlg: 'Jwt header [alg] is not supported',
  JwtHeaderBadKid: 'Jwt header [kid] field is not a string',
  JwtPayloadParseErrorBadBase64: 'Jwt payload is an invalid Base64url encoded',
  JwtPayloadParseErrorBadJson: 'Jwt payload is an invalid JSON',
  JwtPayloadParseErrorIssNotString: 'Jwt payload [iss] field is not a string',
  JwtPayloadParseErrorSubNotString: 'Jwt payload [sub] field is not a string',
  JwtPayloadParseErrorIatNotInteger: 'Jwt payload [iat] field is not an integer',
  JwtPayloadParseErrorIatOutOfRange: 'Jwt payload [iat] field is not a positive 64 bit integer',
  JwtPayloadParseErrorNbfNotInteger: 'Jwt payload [nbf] field is not an integer',
  JwtPayloadParseErrorNbfOutOfRange: 'Jwt payload [nbf] field is not a positive 64 bit integer',
  JwtPayloadParseErrorExpNotInteger: 'Jwt payload [exp] field is not an integer',
  JwtPayloadParseErrorExpOutOfRange: 'Jwt payload [exp] field is not a positive 64 bit integer',
  JwtPayloadParseErrorJtiNotString: 'Jwt payload [jti] field is not a string',
  JwtPayloadParseErrorAudNotString: 'Jwt payload [aud] field is not a string or string list',
  JwtSignatureParseErrorBadBase64: 'Jwt signature is an invalid Base64url encoded',
  JwtUnknownIssuer: 'Jwt issuer is not configured',
  JwtAudienceNotAllowed: 'Audiences in Jwt are not allowed',
  JwtVerificationFail: 'Jwt verification fails',
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  JwksFetchFail: 'Jwks remote fetch is failed',
} as const;

export type JwtStatusMessage = (typeof JwtStatus)[keyof typeof JwtStatus];

/** The HTTP status Envoy answers a failure with. */
export function statusCodeFor(message: string): 401 | 403 {
  return message === JwtStatus.JwtAudienceNotAllowed ? 403 : 401;
}

/** Envoy truncates the path in the realm to 256 characters (MaximumUriLength). */
const MAX_REALM_PATH = 256;

/**
 * The WWW-Authenticate value Envoy puts on a JWT failure reply: `Bearer realm="<scheme>://<host><path>"`
 * with the path (query included) cut at 256 characters, plus `, error="invalid_token"` for every failure
 * but a missing token (which RequestAuthentication never rejects on its own).
 */
export function wwwAuthenticate(scheme: string, host: string, path: string, missing = false): string {
  const p = path.length > MAX_REALM_PATH ? path.slice(0, MAX_REALM_PATH) : path;
  const value = `Bearer realm="${scheme}://${host}${p}"`;
  return missing ? value : `${value}, error="invalid_token"`;
}
