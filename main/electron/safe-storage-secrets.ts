import { EncryptedFileSecretStore, encryptionRefusal, type EncryptionStatus, type SecretCipher, type SecretName, type SecretStore } from '../secret-store.js';

/**
 * The secret store of the desktop app: one file per secret in `<userData>/secrets` (0700, files
 * 0600), each encrypted with Electron's safeStorage, i.e. by the operating system's keychain
 * (DPAPI on Windows, Keychain on macOS, libsecret/KWallet on Linux). keytar is not used: it is
 * archived upstream, and safeStorage is the maintained route.
 *
 * Fail closed: when safeStorage cannot really encrypt (no keyring on Linux, where it would fall
 * back to a well-known password), every operation throws the reason, so the app refuses to start
 * instead of keeping the device key readable.
 */
export function safeStorageSecrets(safeStorage: SecretCipher & EncryptionStatus, dir: string, platform: NodeJS.Platform): SecretStore {
  const files = new EncryptedFileSecretStore(dir, safeStorage);
  const check = () => {
    const refusal = encryptionRefusal(safeStorage, platform);
    if (refusal) throw new Error(refusal);
  };
  return {
    async get(name: SecretName) {
      check();
      return files.get(name);
    },
    async set(name: SecretName, value: string) {
      check();
      return files.set(name, value);
    },
    async delete(name: SecretName) {
      return files.delete(name);
    },
  };
}
