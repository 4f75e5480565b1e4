import crypto from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { TEARDOWN_RECEIPT_TYP } from '../common/protocol/signaling.js';
import { dpopProof, nonceProof, signStatement } from '../main/proofs.js';

/** An Ed25519 device key as a client holds it, with the proofs the broker asks for (main/proofs.ts builds them). */
export class DeviceKey {
  /** Seconds the test clock runs ahead of the machine clock, so proofs look fresh to a broker on test time. */
  static clockSkewS = 0;
  readonly privateKey: crypto.KeyObject;
  readonly publicJwk: JWK;
  private jktCache: string | null = null;

  constructor(privateKey: crypto.KeyObject = crypto.generateKeyPairSync('ed25519').privateKey) {
    this.privateKey = privateKey;
    const j = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
    this.publicJwk = { kty: 'OKP', crv: 'Ed25519', x: j.x! };
  }

  /** A benchmark's server child hands its accounts' keys to the load generator as private JWKs. */
  static fromPrivateJwk(jwk: crypto.JsonWebKey): DeviceKey {
    return new DeviceKey(crypto.createPrivateKey({ key: jwk, format: 'jwk' }));
  }

  privateJwk(): crypto.JsonWebKey {
    return this.privateKey.export({ format: 'jwk' });
  }

  async jkt(): Promise<string> {
    this.jktCache ??= await calculateJwkThumbprint(this.publicJwk, 'sha256');
    return this.jktCache;
  }

  /** DPoP proof for one HTTP request (RFC 9449 shape). */
  async httpProof(method: string, url: string, accessToken?: string, iatOffsetS = 0): Promise<string> {
    return dpopProof(this, method, url, accessToken, testNow(iatOffsetS));
  }

  /** Proof for the signaling socket: signs the broker's nonce and the token's hash. */
  async nonceProof(nonce: string, token: string): Promise<string> {
    return nonceProof(this, nonce, token, testNow());
  }

  /** A signed statement (consent receipt) with this key. */
  async sign(typ: string, claims: Record<string, unknown>): Promise<string> {
    return signStatement(this, typ, claims, testNow());
  }

  /** The signed teardown report, as the app makes it: the grants dropped, sorted, once each. */
  teardownReceipt(sessionId: string, revoked: readonly string[], afterCrash = false): Promise<string> {
    return this.sign(TEARDOWN_RECEIPT_TYP, { sid: sessionId, revoked: [...new Set(revoked)].sort(), after_crash: afterCrash, jti: crypto.randomUUID() });
  }
}

/** The test's time (machine clock plus the skew), moved by `offsetS` for a deliberately stale or early proof. */
function testNow(offsetS = 0): () => number {
  return () => Date.now() + (DeviceKey.clockSkewS + offsetS) * 1000;
}
