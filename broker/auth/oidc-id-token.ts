import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import { unauthorized } from '../domain-errors.js';

export interface IdTokenExpectations {
  issuer: string;
  audience: string;
  nonce: string;
  nowMs: number;
  /** Step-up: the person must have authenticated at most this long ago. */
  maxAgeS?: number | undefined;
}

export type IdTokenKeys = ReturnType<typeof createRemoteJWKSet>;

export function idTokenKeys(jwksUri: string): IdTokenKeys {
  return createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
}

/**
 * The ID token checked here with jose against the provider's published keys, whatever the
 * client library checked before: signature, iss, aud, exp, the nonce of this very sign-in, and
 * (for a step-up) auth_time. Each refusal names what was wrong, so an admin setting up a
 * provider can tell a wrong client id from a clock problem.
 */
export async function checkIdToken(idToken: string, keys: IdTokenKeys, x: IdTokenExpectations): Promise<JWTPayload> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keys, { issuer: x.issuer, audience: x.audience, currentDate: new Date(x.nowMs), clockTolerance: 60, algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'] }));
  } catch (e) {
    if (e instanceof errors.JWTClaimValidationFailed) {
      if (e.claim === 'iss') throw unauthorized(`the ID token is from another issuer than ${x.issuer}`, 'sso_wrong_issuer');
      if (e.claim === 'aud') throw unauthorized(`the ID token is for another client than ${x.audience}`, 'sso_wrong_audience');
      throw unauthorized(`the ID token's ${e.claim} claim is not acceptable: ${e.message}`, 'sso_bad_id_token');
    }
    if (e instanceof errors.JWTExpired) throw unauthorized('the ID token has expired (is the clock of this machine or the provider wrong?)', 'sso_id_token_expired');
    if (e instanceof errors.JWSSignatureVerificationFailed || e instanceof errors.JWKSNoMatchingKey) throw unauthorized("the ID token's signature does not check out against the provider's published keys", 'sso_bad_signature');
    throw unauthorized(`the ID token could not be checked: ${(e as Error).message}`, 'sso_bad_id_token');
  }
  if (payload.nonce !== x.nonce) throw unauthorized('the ID token was issued for another sign-in (its nonce is not this one)', 'sso_wrong_nonce');
  if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 255) throw unauthorized('the ID token names no subject', 'sso_bad_id_token');
  if (x.maxAgeS !== undefined) {
    const at = typeof payload.auth_time === 'number' ? payload.auth_time : null;
    if (at === null || x.nowMs / 1000 - at > x.maxAgeS + 60) throw unauthorized(`the identity provider did not authenticate you again within ${Math.round(x.maxAgeS / 60)} minutes`, 'sso_stale_auth');
  }
  return payload;
}
