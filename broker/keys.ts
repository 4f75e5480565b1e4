import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: crypto.JsonWebKey & { kid: string; alg: 'EdDSA'; use: 'sig' };
  createdAt: number;
  /** Set when a newer key took over; the key stays published until its last token has expired. */
  retiredAt: number | null;
}

interface StoredKey {
  kid: string;
  private_jwk: crypto.JsonWebKey;
  created_at: number;
  retired_at: number | null;
}

/**
 * The broker's Ed25519 signing keys, one file each (mode 0600) under DATA_DIR/keys. The newest is
 * the active one; older ones stay in the JWKS until every token they signed has expired.
 */
export class KeyRing {
  private keys: SigningKey[] = [];

  private constructor(
    private readonly dir: string,
    private readonly keepRetiredMs: number,
  ) {}

  static load(dataDir: string, keepRetiredMs: number): { ring: KeyRing; created: boolean } {
    const dir = path.join(dataDir, 'keys');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    const ring = new KeyRing(dir, keepRetiredMs);
    for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
      const file = path.join(dir, f);
      const mode = fs.statSync(file).mode & 0o777;
      if (mode & 0o077) throw new Error(`signing key ${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
      const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as StoredKey;
      ring.keys.push(toSigningKey(stored));
    }
    let created = false;
    if (ring.keys.length === 0) {
      ring.addNew(Date.now());
      created = true;
    }
    ring.keys.sort((a, b) => a.createdAt - b.createdAt);
    return { ring, created };
  }

  get active(): SigningKey {
    const k = this.keys[this.keys.length - 1];
    if (!k) throw new Error('no signing key');
    return k;
  }

  byKid(kid: string): SigningKey | undefined {
    return this.keys.find((k) => k.kid === kid);
  }

  /** Keys that may still verify tokens: the active one and the retired ones within their grace. */
  published(now = Date.now()): SigningKey[] {
    return this.keys.filter((k) => k.retiredAt === null || now - k.retiredAt < this.keepRetiredMs);
  }

  jwks(now = Date.now()): { keys: SigningKey['publicJwk'][] } {
    return { keys: this.published(now).map((k) => k.publicJwk) };
  }

  /** Starts signing with a new key; the old one keeps verifying until its tokens are gone. */
  rotate(now = Date.now()): SigningKey {
    const old = this.active;
    old.retiredAt = now;
    this.write(old);
    return this.addNew(now);
  }

  /** Re-reads the key files; another broker process sharing the data dir may have rotated. */
  reload(): void {
    const fresh = KeyRing.load(path.dirname(this.dir), this.keepRetiredMs).ring;
    this.keys = fresh.keys;
  }

  private addNew(now: number): SigningKey {
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' });
    const kid = `${new Date(now).toISOString().slice(0, 10)}-${crypto.randomBytes(6).toString('hex')}`;
    const key = toSigningKey({ kid, private_jwk: jwk, created_at: now, retired_at: null });
    this.write(key);
    this.keys.push(key);
    return key;
  }

  private write(k: SigningKey): void {
    const stored: StoredKey = {
      kid: k.kid,
      private_jwk: k.privateKey.export({ format: 'jwk' }),
      created_at: k.createdAt,
      retired_at: k.retiredAt,
    };
    const file = path.join(this.dir, `${k.createdAt}-${k.kid}.json`);
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(stored), { mode: 0o600 });
    fs.renameSync(tmp, file);
    fs.chmodSync(file, 0o600);
  }
}

function toSigningKey(s: StoredKey): SigningKey {
  const privateKey = crypto.createPrivateKey({ key: s.private_jwk, format: 'jwk' });
  const publicKey = crypto.createPublicKey(privateKey);
  const pub = publicKey.export({ format: 'jwk' });
  return {
    kid: s.kid,
    privateKey,
    publicKey,
    publicJwk: { ...pub, kid: s.kid, alg: 'EdDSA', use: 'sig' },
    createdAt: s.created_at,
    retiredAt: s.retired_at,
  };
}
