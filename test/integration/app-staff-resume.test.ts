import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBridge, dispatchBridgeCall } from '../../common/bridge/api.js';
import { MainServices } from '../../main/services.js';
import { EncryptedFileSecretStore } from '../../main/secret-store.js';
import { fakeKeychainCipher } from '../fakes/electron-fakes.js';
import { resumeStaff, signIn, signOut } from '../../renderer/app/flows/staff.js';
import { loadPolicy, setBridgeForTests } from '../../renderer/app/services.js';
import { resetStore, useAppStore } from '../../renderer/app/store.js';
import { createUser, freshTotp, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { TestClock } from '../helpers/clock.js';


/**
 * The analyst's sign-in across an app restart: the renderer's real flows against a real broker,
 * main's real services and secret store, joined by the real bridge dispatch (no Electron).
 */
describe('staff sign-in survives a restart through the secret store', () => {
  // One machine, one keychain, across the app's restarts.
  const keychain = fakeKeychainCipher();
  let b: TestBroker;
  let clock: TestClock;
  let alice: TestUser;
  let dataDir: string;
  const running: MainServices[] = [];

  async function startApp(): Promise<MainServices> {
    const secrets = new EncryptedFileSecretStore(path.join(dataDir, 'secrets'), keychain);
    const services = await MainServices.start({ brokerUrl: b.url, dataDir, clock, secrets });
    running.push(services);
    setBridgeForTests(createBridge((m, a) => dispatchBridgeCall(services.handlers, m, a), () => () => undefined));
    resetStore();
    await loadPolicy();
    return services;
  }

  beforeAll(async () => {
    clock = new TestClock();
    b = await startTestBroker('sqlite', { clock });
    alice = await createUser(b, 'alice', ['analyst']);
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-resume-'));
    // createUser spent this TOTP step; the app's own sign-in needs a fresh one.
    await clock.advance(31_000);
  });
  afterAll(async () => {
    for (const s of running) await s.close();
    setBridgeForTests(null);
    clock.dispose();
    await b?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('signed in once, the next start is signed in without the password; signing out forgets it', async () => {
    const first = await startApp();
    await signIn('alice', alice.password, freshTotp(alice.totpSecret));
    expect(useAppStore.getState().staff.account?.username).toBe('alice');
    const kept = fs.readFileSync(path.join(dataDir, 'secrets', 'analyst-refresh-token.enc'));
    expect(kept.length).toBeGreaterThan(16);
    await first.close();

    await startApp();
    expect(useAppStore.getState().staff.account).toBeNull();
    await resumeStaff();
    expect(useAppStore.getState().staff.account?.username).toBe('alice');
    // The kept token was spent by the resume and replaced by the rotated one.
    expect(fs.readFileSync(path.join(dataDir, 'secrets', 'analyst-refresh-token.enc')).equals(kept)).toBe(false);

    await signOut();
    expect(fs.existsSync(path.join(dataDir, 'secrets', 'analyst-refresh-token.enc'))).toBe(false);
    await startApp();
    await resumeStaff();
    expect(useAppStore.getState().staff.account).toBeNull();
  });

  it('a kept token the broker no longer honours (disabled account) signs nobody in', async () => {
    await clock.advance(31_000);
    await startApp();
    await signIn('alice', alice.password, freshTotp(alice.totpSecret));
    expect(useAppStore.getState().staff.account?.username).toBe('alice');
    await b.ctx.accounts.disable('alice', 'test');
    await startApp();
    await resumeStaff();
    expect(useAppStore.getState().staff.account).toBeNull();
    expect(fs.existsSync(path.join(dataDir, 'secrets', 'analyst-refresh-token.enc'))).toBe(false);
  });
});
