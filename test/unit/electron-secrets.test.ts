import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dispatchBridgeCall } from '../../common/bridge/api.js';
import { DeviceKeyService } from '../../main/device-key.js';
import { MainServices } from '../../main/services.js';
import { safeStorageSecrets } from '../../main/electron/safe-storage-secrets.js';
import { EncryptedFileSecretStore, encryptionRefusal } from '../../main/secret-store.js';
import { fakeKeychainCipher } from '../fakes/electron-fakes.js';


const posix = process.platform !== 'win32';

describe('secrets on disk (the pure part of the safeStorage store)', () => {
  let dir: string;
  beforeEach(() => {
    dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-secrets-')), 'secrets');
  });
  afterEach(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

  it('keeps each secret encrypted in a 0600 file in a 0700 directory, and reads it back', async () => {
    const store = new EncryptedFileSecretStore(dir, fakeKeychainCipher());
    await store.set('analyst-refresh-token', 'rt-very-secret-value');
    expect(await store.get('analyst-refresh-token')).toBe('rt-very-secret-value');
    const file = path.join(dir, 'analyst-refresh-token.enc');
    expect(fs.readFileSync(file).includes(Buffer.from('very-secret'))).toBe(false);
    if (posix) {
      expect(fs.statSync(file).mode & 0o777).toBe(0o600);
      expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    }
    expect(fs.readdirSync(dir)).toEqual(['analyst-refresh-token.enc']);
    await store.delete('analyst-refresh-token');
    expect(await store.get('analyst-refresh-token')).toBeNull();
  });

  it('tightens a directory something loosened', async () => {
    if (!posix) return;
    fs.mkdirSync(dir, { mode: 0o777 });
    fs.chmodSync(dir, 0o777);
    await new EncryptedFileSecretStore(dir, fakeKeychainCipher()).set('device-key', 'x');
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('a secret encrypted under another key (another user, a reset keychain) is an error, not garbage', async () => {
    await new EncryptedFileSecretStore(dir, fakeKeychainCipher()).set('device-key', 'k');
    await expect(new EncryptedFileSecretStore(dir, fakeKeychainCipher()).get('device-key')).rejects.toThrow(/cannot be decrypted/);
  });

  it('only known secret names, never a path', async () => {
    const store = new EncryptedFileSecretStore(dir, fakeKeychainCipher());
    await expect(store.set('../../etc/passwd' as never, 'x')).rejects.toThrow(/unknown secret/);
  });

  it("the device key lives in the store, encrypted, and is the same key on the next start", async () => {
    const store = new EncryptedFileSecretStore(dir, fakeKeychainCipher());
    const first = await DeviceKeyService.create({ secrets: store });
    const again = await DeviceKeyService.create({ secrets: store });
    expect(again.jkt).toBe(first.jkt);
    expect(fs.readFileSync(path.join(dir, 'device-key.enc')).includes(Buffer.from('"d"'))).toBe(false);
  });
});

describe("the analyst's refresh token across restarts (bridge methods staff.*)", () => {
  let base: string;
  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-refresh-'));
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  const token = 'rt_' + 'x'.repeat(40);

  it('is kept encrypted in the store, read back by the next start, and gone after sign-out', async () => {
    const secrets = new EncryptedFileSecretStore(path.join(base, 'secrets'), fakeKeychainCipher());
    const first = await MainServices.start({ brokerUrl: 'http://127.0.0.1:9', dataDir: base, secrets });
    expect(await dispatchBridgeCall(first.handlers, 'staff.saveRefreshToken', [{ token }])).toEqual({ stored: true });
    expect(fs.readFileSync(path.join(base, 'secrets', 'analyst-refresh-token.enc')).includes(Buffer.from(token))).toBe(false);
    await first.close();
    const next = await MainServices.start({ brokerUrl: 'http://127.0.0.1:9', dataDir: base, secrets });
    expect(await dispatchBridgeCall(next.handlers, 'staff.loadRefreshToken', [])).toEqual({ token });
    await dispatchBridgeCall(next.handlers, 'staff.forgetRefreshToken', []);
    expect(await dispatchBridgeCall(next.handlers, 'staff.loadRefreshToken', [])).toEqual({ token: null });
    await next.close();
  });

  it('without an encrypting store (the browser host) nothing is written and the analyst signs in again', async () => {
    const s = await MainServices.start({ brokerUrl: 'http://127.0.0.1:9', dataDir: base });
    expect(await dispatchBridgeCall(s.handlers, 'staff.saveRefreshToken', [{ token }])).toEqual({ stored: false });
    expect(await dispatchBridgeCall(s.handlers, 'staff.loadRefreshToken', [])).toEqual({ token: null });
    expect(fs.readdirSync(base).filter((f) => f.includes('refresh'))).toEqual([]);
    await expect(dispatchBridgeCall(s.handlers, 'staff.saveRefreshToken', [{ token: 'short' }])).rejects.toThrow(/invalid_args|staff.saveRefreshToken/);
    await s.close();
  });

  it('a token the keychain can no longer decrypt is dropped, not guessed at', async () => {
    const dir = path.join(base, 'secrets');
    await new EncryptedFileSecretStore(dir, fakeKeychainCipher()).set('analyst-refresh-token', token);
    const s = await MainServices.start({ brokerUrl: 'http://127.0.0.1:9', dataDir: base, secrets: new EncryptedFileSecretStore(dir, fakeKeychainCipher()), onError: () => undefined });
    expect(await dispatchBridgeCall(s.handlers, 'staff.loadRefreshToken', [])).toEqual({ token: null });
    expect(fs.existsSync(path.join(dir, 'analyst-refresh-token.enc'))).toBe(false);
    await s.close();
  });
});

describe('safeStorage that cannot really encrypt: the app refuses, with a reason a person can act on', () => {
  const status = (available: boolean, backend: string) => ({ isEncryptionAvailable: () => available, getSelectedStorageBackend: () => backend });

  it('refuses when safeStorage has no encryption, and on Linux when it would use its well-known password', () => {
    expect(encryptionRefusal(status(false, 'gnome_libsecret'), 'linux')).toMatch(/no encryption/);
    expect(encryptionRefusal(status(true, 'basic_text'), 'linux')).toMatch(/no keyring is running/);
    expect(encryptionRefusal(status(true, 'unknown'), 'linux')).toMatch(/no keyring/);
    expect(encryptionRefusal(status(true, 'gnome_libsecret'), 'linux')).toBeNull();
    expect(encryptionRefusal(status(true, 'kwallet5'), 'linux')).toBeNull();
    expect(encryptionRefusal({ isEncryptionAvailable: () => true }, 'win32')).toBeNull();
    expect(encryptionRefusal({ isEncryptionAvailable: () => false }, 'darwin')).toMatch(/no encryption/);
  });

  it('the safeStorage store writes nothing and reads nothing then, so the app cannot start with a readable key', async () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-secrets-')), 'secrets');
    try {
      const basic = { ...fakeKeychainCipher(), ...status(true, 'basic_text') };
      const store = safeStorageSecrets(basic, dir, 'linux');
      await expect(store.set('device-key', 'k')).rejects.toThrow(/no keyring/);
      await expect(store.get('device-key')).rejects.toThrow(/no keyring/);
      await expect(DeviceKeyService.create({ secrets: store })).rejects.toThrow(/no keyring/);
      expect(fs.existsSync(dir)).toBe(false);
      const good = safeStorageSecrets({ ...fakeKeychainCipher(), ...status(true, 'gnome_libsecret') }, dir, 'linux');
      await good.set('device-key', 'k');
      expect(await good.get('device-key')).toBe('k');
    } finally {
      fs.rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  });
});
