import crypto from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, type JWK } from 'jose';

/** An Ed25519 device key as a client holds it, with the proofs the broker asks for. */
export class DeviceKey {
  /** Seconds the test clock runs ahead of the machine clock, so proofs look fresh to a broker on test time. */
  static clockSkewS = 0;
  readonly privateKey: crypto.KeyObject;
  readonly publicJwk: JWK;
  private jktCache: string | null = null;

  constructor() {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    this.privateKey = privateKey;
    const j = publicKey.export({ format: 'jwk' });
    this.publicJwk = { kty: 'OKP', crv: 'Ed25519', x: j.x! };
  }

  async jkt(): Promise<string> {
    this.jktCache ??= await calculateJwkThumbprint(this.publicJwk, 'sha256');
    return this.jktCache;
  }

  /** DPoP proof for one HTTP request (RFC 9449 shape). */
  async httpProof(method: string, url: string, accessToken?: string, iatOffsetS = 0): Promise<string> {
    const claims: Record<string, unknown> = { htm: method, htu: url, jti: crypto.randomUUID() };
    if (accessToken) claims.ath = crypto.createHash('sha256').update(accessToken).digest('base64url');
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', typ: 'dpop+jwt', jwk: this.publicJwk })
      .setIssuedAt(nowS() + iatOffsetS)
      .sign(this.privateKey);
  }

  /** Proof for the signaling socket: signs the broker's nonce and the token's hash. */
  async nonceProof(nonce: string, token: string): Promise<string> {
    const ath = crypto.createHash('sha256').update(token).digest('base64url');
    return new SignJWT({ nonce, ath })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'chaperone-pop+jwt', jwk: this.publicJwk })
      .setIssuedAt(nowS())
      .sign(this.privateKey);
  }

  /** A signed statement (consent receipt) with this key. */
  async sign(typ: string, claims: Record<string, unknown>): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ, jwk: this.publicJwk }).setIssuedAt(nowS()).sign(this.privateKey);
  }
}

function nowS(): number {
  return Math.floor(Date.now() / 1000 + DeviceKey.clockSkewS);
}
