import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const FILE = 'totp-secrets.key';
const VERSION = 'v1';

/**
 * Seals secrets the broker must keep but never show again (TOTP secrets) with AES-256-GCM, under
 * a key that lives beside the signing keys (DATA_DIR/keys/totp-secrets.key, mode 0600), not in
 * the database: a copy of the database alone gives away no one's second factor. Each secret is
 * bound to a context (its account), so a sealed value copied to another row opens nothing.
 * Sealed values read `v1.<iv>.<ciphertext and tag>` (base64url).
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** The data dir's key, made on first use; refuses one that others can read. */
  static load(dataDir: string): SecretBox {
    const dir = path.join(dataDir, 'keys');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, FILE);
    if (!fs.existsSync(file)) {
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, crypto.randomBytes(32).toString('base64url') + '\n', { mode: 0o600 });
      // Another process (the CLI) may have made one meanwhile: the first one stays.
      try {
        fs.linkSync(tmp, file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
    }
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077) throw new Error(`${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
    const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64url');
    if (key.length !== 32) throw new Error(`${file} does not hold a 256-bit key`);
    return new SecretBox(key);
  }

  static isSealed(value: string): boolean {
    return value.startsWith(`${VERSION}.`);
  }

  seal(plain: string, context: string): string {
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(context));
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final(), c.getAuthTag()]);
    return `${VERSION}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /** The secret, or null when it was sealed under another key or context, or altered. */
  open(sealed: string, context: string): string | null {
    const [v, ivText, bodyText] = sealed.split('.');
    if (v !== VERSION || !ivText || !bodyText) return null;
    const body = Buffer.from(bodyText, 'base64url');
    if (body.length < 16) return null;
    try {
      const d = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(ivText, 'base64url'));
      d.setAAD(Buffer.from(context));
      d.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([d.update(body.subarray(0, body.length - 16)), d.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}
