import { decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, login, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { TestClock } from '../helpers/clock.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';

describe('signing key rotation', () => {
  let b: TestBroker;
  let clock: TestClock;
  let admin: TestUser;
  let analyst: TestUser;

  beforeAll(async () => {
    clock = new TestClock();
    b = await startTestBroker('sqlite', { clock });
    admin = await createUser(b, 'root', ['admin']);
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => {
    clock.dispose();
    await b?.destroy();
  });

  it('new tokens use the new key; tokens signed before keep working until they expire; then the old key leaves the JWKS', async () => {
    const before = await activeSession(b, analyst);
    const oldKid = decodeProtectedHeader(before.endUserToken).kid;
    const rotated = await admin.api.post('/api/v1/admin/keys/rotate', {});
    expect(rotated.status).toBe(200);
    expect(rotated.body.previous).toBe(oldKid);
    const jwks = await (await fetch(`${b.url}/.well-known/jwks.json`)).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid).sort()).toEqual([oldKid, rotated.body.kid].sort());

    // A token signed with the old key still opens signaling.
    const c = await SignalingClient.connect(b.url, before.endUserToken, before.endUser.device);
    c.close();
    // The analyst's old access token still works too; new ones carry the new kid.
    expect((await analyst.api.get('/api/v1/me')).status).toBe(200);
    // A TOTP code is good once, so the next sign-in waits for the next 30-second step.
    await clock.advance(31_000);
    await login(analyst);
    expect(decodeProtectedHeader(analyst.api.accessToken!).kid).toBe(rotated.body.kid);
    const after = await activeSession(b, analyst);
    expect(decodeProtectedHeader(after.endUserToken).kid).toBe(rotated.body.kid);

    // Long after every token of the old key has expired, the JWKS drops it.
    await clock.advance(10 * 3600_000);
    const later = await (await fetch(`${b.url}/.well-known/jwks.json`)).json();
    expect(later.keys.map((k: { kid: string }) => k.kid)).toEqual([rotated.body.kid]);
  });
});
