import crypto from 'node:crypto';
import { SignJWT, type JWK } from 'jose';

/**
 * The JWS shapes a device signs for the broker, built in one place: main's device key signs with
 * them, and so do the test and benchmark clients, so a change to a proof's shape is made once and
 * every client that talks to the broker follows it.
 *
 * Pure functions over a key and a clock: nothing here stores or chooses a key.
 */

/** An Ed25519 private key and the public JWK the broker learns it by (carried in every header). */
export interface ProofKey {
  readonly privateKey: crypto.KeyObject;
  readonly publicJwk: JWK;
}

/** Milliseconds since the epoch; `iat` is this clock's whole second. */
export type ProofClock = () => number;

export function sha256b64url(s: string): string {
  return crypto.createHash('sha256').update(s).digest('base64url');
}

/** A statement signed with the device key (consent and extension receipts, and every proof below). */
export function signStatement(key: ProofKey, typ: string, claims: Record<string, unknown>, now: ProofClock): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ, jwk: key.publicJwk })
    .setIssuedAt(Math.floor(now() / 1000))
    .sign(key.privateKey);
}

/** DPoP proof (RFC 9449) for one HTTP request; `ath` binds it to the access token when there is one. */
export function dpopProof(key: ProofKey, htm: string, htu: string, accessToken: string | undefined, now: ProofClock): Promise<string> {
  const claims: Record<string, unknown> = { htm, htu, jti: crypto.randomUUID() };
  if (accessToken) claims.ath = sha256b64url(accessToken);
  return signStatement(key, 'dpop+jwt', claims, now);
}

/**
 * The end user's teardown report, signed: which local grants the client dropped when the session
 * ended (sorted), whether after a crash, and a unique id. The broker stores it in the audit chain.
 */
export function teardownReceipt(key: ProofKey, r: { sid: string; revoked: readonly string[]; afterCrash: boolean }, now: ProofClock): Promise<string> {
  return signStatement(key, 'chaperone-teardown+jwt', { sid: r.sid, revoked: [...new Set(r.revoked)].sort(), after_crash: r.afterCrash, jti: crypto.randomUUID() }, now);
}

/** The signaling proof: the broker's nonce and the session token's hash. */
export function nonceProof(key: ProofKey, nonce: string, token: string, now: ProofClock): Promise<string> {
  return signStatement(key, 'chaperone-pop+jwt', { nonce, ath: sha256b64url(token) }, now);
}
