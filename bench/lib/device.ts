import crypto from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, type JWK } from 'jose';

/**
 * An Ed25519 device key with the proofs the broker asks for (the same shapes as
 * test/helpers/device.ts), which can also be exported to and imported from a private JWK so a
 * server child can hand its accounts' keys to the load generator.
 */
export class BenchDevice {
  readonly publicJwk: JWK;
  private jktCache: string | null = null;

  constructor(readonly privateKey: crypto.KeyObject = crypto.generateKeyPairSync('ed25519').privateKey) {
    const j = crypto.createPublicKey(privateKey).export({ format: 'jwk' });
    this.publicJwk = { kty: 'OKP', crv: 'Ed25519', x: j.x! };
  }

  static fromPrivateJwk(jwk: crypto.JsonWebKey): BenchDevice {
    return new BenchDevice(crypto.createPrivateKey({ key: jwk, format: 'jwk' }));
  }

  privateJwk(): crypto.JsonWebKey {
    return this.privateKey.export({ format: 'jwk' });
  }

  async jkt(): Promise<string> {
    this.jktCache ??= await calculateJwkThumbprint(this.publicJwk, 'sha256');
    return this.jktCache;
  }

  httpProof(method: string, url: string, accessToken?: string): Promise<string> {
    const claims: Record<string, unknown> = { htm: method, htu: url, jti: crypto.randomUUID() };
    if (accessToken) claims.ath = crypto.createHash('sha256').update(accessToken).digest('base64url');
    return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'dpop+jwt', jwk: this.publicJwk }).setIssuedAt(nowS()).sign(this.privateKey);
  }

  nonceProof(nonce: string, token: string): Promise<string> {
    const ath = crypto.createHash('sha256').update(token).digest('base64url');
    return new SignJWT({ nonce, ath }).setProtectedHeader({ alg: 'EdDSA', typ: 'chaperone-pop+jwt', jwk: this.publicJwk }).setIssuedAt(nowS()).sign(this.privateKey);
  }

  sign(typ: string, claims: Record<string, unknown>): Promise<string> {
    return new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ, jwk: this.publicJwk }).setIssuedAt(nowS()).sign(this.privateKey);
  }
}

function nowS(): number {
  return Math.floor(Date.now() / 1000);
}
