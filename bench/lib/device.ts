import crypto from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { dpopProof, nonceProof, signStatement } from '../../main/proofs.js';

/**
 * An Ed25519 device key with the proofs the broker asks for (built by main/proofs.ts, as the app's
 * and the tests' are), which can also be exported to and imported from a private JWK so a server
 * child can hand its accounts' keys to the load generator.
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
    return dpopProof(this, method, url, accessToken, Date.now);
  }

  nonceProof(nonce: string, token: string): Promise<string> {
    return nonceProof(this, nonce, token, Date.now);
  }

  sign(typ: string, claims: Record<string, unknown>): Promise<string> {
    return signStatement(this, typ, claims, Date.now);
  }
}
