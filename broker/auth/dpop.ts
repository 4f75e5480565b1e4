import crypto from 'node:crypto';
import type { JWK } from 'jose';
import { JwsError, decodeJws, ed25519FromX, ed25519Thumbprint, verifyJwsSignature } from './jws.js';
import { TokenError } from './tokens.js';

const MAX_SKEW_S = 60;

export interface ProofResult {
  jkt: string;
  jwk: JWK;
}

/** Where proof ids are claimed (broker/storage/limits.ts): the broker's database, shared and kept over restarts. */
export interface ReplayClaims {
  claimOnce(id: string, expiresAt: number, now: number): Promise<boolean>;
}

/** The same in one process's memory, for code that checks proofs without a broker (unit tests). */
export class ReplayCache implements ReplayClaims {
  private readonly seen = new Map<string, number>();
  private lastSweep = 0;

  async claimOnce(id: string, expiresAt: number, now: number): Promise<boolean> {
    if (now - this.lastSweep > 10_000) {
      for (const [k, exp] of this.seen) if (exp <= now) this.seen.delete(k);
      this.lastSweep = now;
    }
    const exp = this.seen.get(id);
    if (exp !== undefined && exp > now) return false;
    this.seen.set(id, expiresAt);
    return true;
  }
}

export function sha256b64url(text: string): string {
  return crypto.createHash('sha256').update(text).digest('base64url');
}

/** Checks that a public JWK is an Ed25519 key with nothing private in it. */
function devicePublicX(jwk: unknown): string {
  if (!jwk || typeof jwk !== 'object') throw new TokenError('bad_proof', 'proof has no device key');
  const k = jwk as Record<string, unknown>;
  if (k.kty !== 'OKP' || k.crv !== 'Ed25519' || typeof k.x !== 'string') {
    throw new TokenError('bad_proof', 'device key must be an Ed25519 public key');
  }
  if ('d' in k) throw new TokenError('bad_proof', 'device key must not contain private material');
  return k.x;
}

/** A JWS signed by the Ed25519 key embedded in its own header, of the given `typ`. */
export function verifyEmbeddedKeyJws(token: string, typ: string): { payload: Record<string, unknown>; jkt: string; jwk: JWK } {
  if (token.length > 4096) throw new TokenError('bad_proof', 'proof too large');
  let d;
  try {
    d = decodeJws(token);
  } catch (e) {
    throw new TokenError('bad_proof', e instanceof JwsError ? `proof rejected: ${e.message}` : 'proof is not a well-formed JWS');
  }
  const x = devicePublicX(d.header.jwk);
  let key;
  try {
    key = ed25519FromX(x);
  } catch {
    throw new TokenError('bad_proof', 'device key must be an Ed25519 public key');
  }
  if (!verifyJwsSignature(d, key) || d.header.typ !== typ) throw new TokenError('bad_proof', 'proof signature or type is invalid');
  return { payload: d.payload, jkt: ed25519Thumbprint(x), jwk: { kty: 'OKP', crv: 'Ed25519', x } };
}

/**
 * Verifies a DPoP-style proof of possession (RFC 9449 shape, EdDSA only): a JWS made by the
 * device key over the method, path, a fresh id and, when a token is presented, its hash.
 * `htu` is compared by path so the proof survives a reverse proxy changing scheme or host.
 */
export async function verifyHttpProof(
  proof: string,
  expect: { method: string; path: string; accessToken?: string | undefined },
  replay: ReplayClaims,
  now: number,
): Promise<ProofResult> {
  const { payload, jkt, jwk } = verifyEmbeddedKeyJws(proof, 'dpop+jwt');
  if (payload.htm !== expect.method) throw new TokenError('bad_proof', 'proof was made for another method');
  let htuPath: string;
  try {
    htuPath = new URL(String(payload.htu)).pathname;
  } catch {
    throw new TokenError('bad_proof', 'proof htu is not a URL');
  }
  if (htuPath !== expect.path) throw new TokenError('bad_proof', 'proof was made for another URL');
  if (typeof payload.iat !== 'number' || Math.abs(payload.iat - now / 1000) > MAX_SKEW_S) {
    throw new TokenError('bad_proof', 'proof is stale or from the future');
  }
  if (typeof payload.jti !== 'string' || payload.jti.length < 8 || payload.jti.length > 128) {
    throw new TokenError('bad_proof', 'proof needs a unique jti');
  }
  if (expect.accessToken !== undefined && payload.ath !== sha256b64url(expect.accessToken)) {
    throw new TokenError('bad_proof', 'proof is not bound to this access token');
  }
  // Remembered for as long as the proof's iat is acceptable (60 s either side), in the database:
  // a proof replayed to another broker on it, or after a restart, is refused the same way.
  const acceptableUntil = (payload.iat + MAX_SKEW_S + 1) * 1000;
  if (!(await replay.claimOnce(`dpop:${jkt}:${payload.jti}`, acceptableUntil, now))) throw new TokenError('proof_replayed', 'proof was already used');
  return { jkt, jwk };
}

/**
 * Signaling proof: the device key signs the broker's fresh nonce and the hash of the session
 * token, so a stolen token alone cannot open a socket.
 */
export async function verifyNonceProof(proof: string, nonce: string, token: string, _now: number): Promise<ProofResult> {
  const { payload, jkt, jwk } = verifyEmbeddedKeyJws(proof, 'chaperone-pop+jwt');
  if (payload.nonce !== nonce) throw new TokenError('bad_proof', "proof does not sign this connection's nonce");
  if (payload.ath !== sha256b64url(token)) throw new TokenError('bad_proof', 'proof is not bound to this token');
  return { jkt, jwk };
}
