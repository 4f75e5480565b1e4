import crypto from 'node:crypto';
import fs from 'node:fs';
import { calculateJwkThumbprint } from 'jose';
import { z } from 'zod';
import { writePrivateFileAtomic } from './private-file.js';
import { dpopProof, nonceProof, signStatement, teardownReceipt, type ProofKey } from './proofs.js';
import type { SecretStore } from './secret-store.js';

const StoredKeySchema = z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string().length(43), d: z.string().length(43) }).strict();

export interface PublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
}

/**
 * This machine's Ed25519 device key. It lives in the main process only: the renderer receives
 * proofs and receipts, never the key. With a file it survives restarts (the crash report after a
 * restart must come from the device that redeemed the code); the file is 0600 and written
 * atomically. The Electron build keeps the same bytes under safeStorage instead.
 */
export class DeviceKeyService {
  private constructor(
    private readonly privateKey: crypto.KeyObject,
    readonly publicJwk: PublicJwk,
    readonly jkt: string,
    private readonly now: () => number,
  ) {}

  /** `secrets` (the Electron build: safeStorage) takes precedence over `file` (the browser host). */
  static async create(opts: { file?: string; secrets?: SecretStore; now?: () => number } = {}): Promise<DeviceKeyService> {
    let jwk: z.infer<typeof StoredKeySchema> | null = null;
    if (opts.secrets) {
      const stored = await opts.secrets.get('device-key');
      if (stored !== null) {
        const parsed = StoredKeySchema.safeParse(JSON.parse(stored));
        // A damaged key is not silently replaced: the broker knows this device by it.
        if (!parsed.success) throw new Error('the stored device key is damaged');
        jwk = parsed.data;
      }
    } else if (opts.file) {
      try {
        const parsed = StoredKeySchema.safeParse(JSON.parse(fs.readFileSync(opts.file, 'utf8')));
        if (parsed.success) jwk = parsed.data;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`device key ${opts.file} is unreadable: ${(err as Error).message}`);
      }
    }
    if (!jwk) {
      const { privateKey } = crypto.generateKeyPairSync('ed25519');
      const j = privateKey.export({ format: 'jwk' });
      jwk = { kty: 'OKP', crv: 'Ed25519', x: j.x!, d: j.d! };
      if (opts.secrets) await opts.secrets.set('device-key', JSON.stringify(jwk));
      else if (opts.file) writePrivateFileAtomic(opts.file, JSON.stringify(jwk));
    }
    const privateKey = crypto.createPrivateKey({ key: jwk, format: 'jwk' });
    const publicJwk: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
    const jkt = await calculateJwkThumbprint(publicJwk, 'sha256');
    return new DeviceKeyService(privateKey, publicJwk, jkt, opts.now ?? Date.now);
  }

  /** DPoP proof (RFC 9449) for one HTTP request. */
  dpop(htm: string, htu: string, accessToken?: string): Promise<string> {
    return dpopProof(this.key(), htm, htu, accessToken, this.now);
  }

  /** The signaling proof: the broker's nonce and the token's hash. */
  nonceProof(nonce: string, token: string): Promise<string> {
    return nonceProof(this.key(), nonce, token, this.now);
  }

  /** The signed teardown report for one session (main/proofs.ts). */
  teardownReceipt(sid: string, revoked: readonly string[], afterCrash: boolean): Promise<string> {
    return teardownReceipt(this.key(), { sid, revoked, afterCrash }, this.now);
  }

  sign(typ: string, claims: Record<string, unknown>): Promise<string> {
    return signStatement(this.key(), typ, claims, this.now);
  }

  private key(): ProofKey {
    return { privateKey: this.privateKey, publicJwk: this.publicJwk };
  }
}
