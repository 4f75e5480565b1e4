import crypto, { type KeyObject } from 'node:crypto';

/**
 * Compact JWS with EdDSA (Ed25519) only, on node:crypto directly. The broker verifies two or three
 * signatures per request; a general-purpose JOSE library spends most of that time in WebCrypto
 * bookkeeping. The checks here are the ones that matter and nothing is optional: the algorithm is
 * pinned, `b64`/`crit` extensions are refused, and the header and payload must be JSON objects.
 */
export class JwsError extends Error {}

export interface Jws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

export function signJws(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64({ ...header, alg: 'EdDSA' })}.${b64(payload)}`;
  return `${input}.${crypto.sign(null, Buffer.from(input), key).toString('base64url')}`;
}

function parseJsonObject(part: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwsError(`${what} is not base64url JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new JwsError(`${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

/** Splits and decodes without checking the signature (to pick the key). */
export function decodeJws(token: string): Jws & { input: string; sig: Buffer } {
  if (typeof token !== 'string' || token.length > 8192) throw new JwsError('not a compact JWS');
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => /^[A-Za-z0-9_-]*$/.test(p))) throw new JwsError('not a compact JWS');
  const header = parseJsonObject(parts[0]!, 'header');
  if (header.alg !== 'EdDSA') throw new JwsError(`algorithm ${String(header.alg)} is not accepted`);
  if ('crit' in header || 'b64' in header) throw new JwsError('JWS extensions are not accepted');
  const payload = parseJsonObject(parts[1]!, 'payload');
  return { header, payload, input: `${parts[0]}.${parts[1]}`, sig: Buffer.from(parts[2]!, 'base64url') };
}

export function verifyJwsSignature(d: { input: string; sig: Buffer }, key: KeyObject): boolean {
  if (key.asymmetricKeyType !== 'ed25519' || d.sig.length !== 64) return false;
  return crypto.verify(null, Buffer.from(d.input), key, d.sig);
}

const keyCache = new Map<string, KeyObject>();

/** An Ed25519 public key from its JWK `x`, cached: the same devices sign again and again. */
export function ed25519FromX(x: string): KeyObject {
  let k = keyCache.get(x);
  if (!k) {
    if (!/^[A-Za-z0-9_-]{43}$/.test(x)) throw new JwsError('not an Ed25519 public key');
    k = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    if (keyCache.size > 10_000) keyCache.clear();
    keyCache.set(x, k);
  }
  return k;
}

/** RFC 7638 thumbprint of an Ed25519 public JWK. */
export function ed25519Thumbprint(x: string): string {
  return crypto.createHash('sha256').update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest('base64url');
}
