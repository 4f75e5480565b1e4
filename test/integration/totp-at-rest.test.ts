import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import { createUser, freshTotp, startTestBroker, type TestBroker } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { TestClock } from '../helpers/clock.js';

/** Every byte the SQLite database keeps on disk (the file, its WAL and shared memory). */
function databaseBytes(dataDir: string): Buffer {
  const files = ['chaperone.sqlite', 'chaperone.sqlite-wal', 'chaperone.sqlite-shm'].map((f) => path.join(dataDir, f)).filter((f) => fs.existsSync(f));
  return Buffer.concat(files.map((f) => fs.readFileSync(f)));
}

/**
 * A copy of the database alone does not give away anyone's second factor: TOTP secrets are
 * stored sealed (AES-256-GCM, bound to their account) with a key kept beside the signing keys, and
 * secrets stored in clear by an older broker are sealed when it starts.
 */
describe('TOTP secrets at rest', () => {
  let b: TestBroker | null = null;
  let clock: TestClock | null = null;
  afterEach(async () => {
    clock?.dispose();
    clock = null;
    await b?.destroy();
    b = null;
  });

  it('the database file does not contain the secret; the key is 0600 beside the signing keys; sign-in with TOTP works', async () => {
    b = await startTestBroker('sqlite');
    const alice = await createUser(b, 'alice', ['analyst']);
    await b.ctx.audit.flush();
    const bytes = databaseBytes(b.dataDir);
    expect(bytes.length).toBeGreaterThan(0);
    expect(bytes.includes(Buffer.from(alice.totpSecret))).toBe(false);
    expect(bytes.includes(Buffer.from(alice.totpSecret.toLowerCase()))).toBe(false);
    const key = path.join(b.dataDir, 'keys', 'totp-secrets.key');
    expect(fs.statSync(key).mode & 0o777).toBe(0o600);
    const stored = await b.ctx.storage.db.selectFrom('accounts').select('totp_secret').where('username', '=', 'alice').executeTakeFirstOrThrow();
    expect(stored.totp_secret).toMatch(/^v1\./);
    // The sealed secret is bound to its account: copied onto another account's row it opens nothing.
    const bob = await createUser(b, 'bob', ['approver']);
    await b.ctx.storage.db.updateTable('accounts').set({ totp_secret: stored.totp_secret }).where('username', '=', 'bob').execute();
    const login = await new ApiClient(b.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'bob', password: bob.password, totp: freshTotp(alice.totpSecret) });
    expect(login.status).toBe(401);
  });

  it('a secret an older broker stored in clear is sealed at the next start, and still signs in', async () => {
    clock = new TestClock();
    b = await startTestBroker('sqlite', { clock });
    const alice = await createUser(b, 'alice', ['analyst']);
    // What an older broker left behind.
    await b.ctx.storage.db.updateTable('accounts').set({ totp_secret: alice.totpSecret }).where('username', '=', 'alice').execute();
    b = await b.restart({ clock });
    const stored = await b.ctx.storage.db.selectFrom('accounts').select('totp_secret').where('username', '=', 'alice').executeTakeFirstOrThrow();
    expect(stored.totp_secret).toMatch(/^v1\./);
    expect(databaseBytes(b.dataDir).includes(Buffer.from(alice.totpSecret))).toBe(false);
    await clock.advance(60_000);
    const res = await new ApiClient(b.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'alice', password: alice.password, totp: freshTotp(alice.totpSecret) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  });

  it('a key file others can read stops the start', async () => {
    b = await startTestBroker('sqlite');
    const dir = b.dataDir;
    await b.close();
    fs.chmodSync(path.join(dir, 'keys', 'totp-secrets.key'), 0o644);
    await expect(startTestBroker('sqlite', {}, { dataDir: dir })).rejects.toThrow(/totp-secrets\.key.*readable by others/);
    fs.chmodSync(path.join(dir, 'keys', 'totp-secrets.key'), 0o600);
  });
});
