import fs from 'node:fs';
import path from 'node:path';
import { writePrivateFileAtomic } from './private-file.js';

/**
 * Where the main process keeps secrets that outlive a run (the device key, the analyst's refresh
 * token). The port is small on purpose: the Electron build backs it with the operating system's
 * keychain through `safeStorage` (main/electron/safe-storage-secrets.ts); tests back it with a
 * cipher of their own. keytar is not used: it is archived upstream.
 */
export interface SecretStore {
  get(name: SecretName): Promise<string | null>;
  set(name: SecretName, value: string): Promise<void>;
  delete(name: SecretName): Promise<void>;
}

export const SECRET_NAMES = ['device-key', 'analyst-refresh-token'] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/** Encrypts and decrypts one secret; Electron's safeStorage has exactly this shape. */
export interface SecretCipher {
  encryptString(plain: string): Buffer;
  decryptString(encrypted: Buffer): string;
}

const MAX_SECRET_CHARS = 16 * 1024;

/**
 * Secrets as one encrypted file each in a 0700 directory, every file 0600 and replaced atomically
 * (write, fsync, rename), so a crash never leaves half a key behind. The directory's mode is
 * tightened on every start, in case something loosened it.
 */
export class EncryptedFileSecretStore implements SecretStore {
  constructor(
    private readonly dir: string,
    private readonly cipher: SecretCipher,
  ) {}

  async get(name: SecretName): Promise<string | null> {
    let body: Buffer;
    try {
      body = fs.readFileSync(this.file(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      return this.cipher.decryptString(body);
    } catch (err) {
      // A secret that cannot be decrypted (another user, a reset keychain) is gone, not guessed at.
      throw new Error(`the stored ${name} cannot be decrypted: ${(err as Error).message}`);
    }
  }

  async set(name: SecretName, value: string): Promise<void> {
    if (value.length === 0 || value.length > MAX_SECRET_CHARS) throw new Error(`refusing to store a ${name} of ${value.length} characters`);
    const body = this.cipher.encryptString(value);
    this.ensureDir();
    writePrivateFileAtomic(this.file(name), body);
  }

  async delete(name: SecretName): Promise<void> {
    fs.rmSync(this.file(name), { force: true });
  }

  private ensureDir(): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (process.platform !== 'win32') fs.chmodSync(this.dir, 0o700);
  }

  private file(name: SecretName): string {
    if (!(SECRET_NAMES as readonly string[]).includes(name)) throw new Error(`unknown secret ${String(name)}`);
    return path.join(this.dir, `${name}.enc`);
  }
}

/** The slice of Electron's safeStorage that decides whether it really encrypts. */
export interface EncryptionStatus {
  isEncryptionAvailable(): boolean;
  getSelectedStorageBackend?(): string;
}

/**
 * Null when secrets can be stored encrypted, else why not. On Linux without a keyring safeStorage
 * falls back to a hard-coded password ('basic_text'), which is obfuscation, not protection: the
 * app then refuses to store secrets at all rather than pretend.
 */
export function encryptionRefusal(status: EncryptionStatus, platform: NodeJS.Platform): string | null {
  if (!status.isEncryptionAvailable()) {
    return 'Secrets cannot be stored: the operating system offers no encryption to this app (safeStorage is unavailable). Sign in to a desktop session with a keyring or keychain and start Chaperone again.';
  }
  if (platform === 'linux') {
    const backend = status.getSelectedStorageBackend?.() ?? 'unknown';
    if (backend === 'basic_text' || backend === 'unknown') {
      return `Secrets cannot be stored: no keyring is running (safeStorage backend "${backend}"), so they would be kept under a well-known password. Start GNOME Keyring or KWallet (or install one) and start Chaperone again.`;
    }
  }
  return null;
}
