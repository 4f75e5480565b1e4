import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession, connectBoth } from '../../kit/lifecycle.js';

/** The verification code's commitments (docs/session-protocol.md) travel as signal payloads; the broker relays them and nothing looser. */
describe('the broker relays sas-commit signals, well formed ones only', () => {
  let b: TestBroker;
  let analyst: TestUser;

  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  const commitment = () => crypto.createHash('sha256').update(crypto.randomBytes(32)).digest('base64url');

  it('both ways, as the first signal of each side', async () => {
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    const fromEu = commitment();
    const fromAn = commitment();
    expect(fromEu).toHaveLength(43);
    eu.sendJson({ type: 'signal', payload: { kind: 'sas-commit', commitment: fromEu } });
    an.sendJson({ type: 'signal', payload: { kind: 'sas-commit', commitment: fromAn } });
    expect(await an.nextOfType('signal')).toEqual({ type: 'signal', from: 'end_user', payload: { kind: 'sas-commit', commitment: fromEu } });
    expect(await eu.nextOfType('signal')).toEqual({ type: 'signal', from: 'analyst', payload: { kind: 'sas-commit', commitment: fromAn } });
    eu.close();
    an.close();
  });

  it.each([
    ['42 characters', { kind: 'sas-commit', commitment: 'a'.repeat(42) }],
    ['44 characters', { kind: 'sas-commit', commitment: 'a'.repeat(44) }],
    ['not base64url', { kind: 'sas-commit', commitment: `${'a'.repeat(42)}=` }],
    ['an extra field', { kind: 'sas-commit', commitment: 'a'.repeat(43), value: 'x' }],
  ])('refuses a commitment of %s', async (_name, payload) => {
    const s = await activeSession(b, analyst);
    const { eu, an } = await connectBoth(b, analyst, s);
    an.sendJson({ type: 'signal', payload });
    expect(await an.closed()).toBe(4002);
    expect(eu.frames.filter((f) => f.type === 'signal')).toEqual([]);
    eu.close();
  });
});
