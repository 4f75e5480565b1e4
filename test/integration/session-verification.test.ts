import { afterEach, describe, expect, it } from 'vitest';
import { newSasSecret } from '../../common/sas.js';
import type { SessionEngine } from '../../renderer/session/engine.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine, wsFactory } from '../../kit/node-session.js';
import { tamperingSocket, type Rewrite } from '../helpers/tampering-socket.js';

/**
 * The verification code's commitment in real sessions (docs/session-protocol.md): each side's
 * first signal is its commitment, its reveal goes on the control channel after DTLS, and a reveal
 * that does not match what was committed ends the session as verification_failed, on both sides
 * and at the broker.
 */
describe('the verification commitment in a live session', () => {
  let b: TestBroker;
  let analyst: TestUser;
  const stop: (() => void)[] = [];
  afterEach(async () => {
    for (const f of stop.splice(0)) f();
    await b?.destroy();
  });

  async function pair(o: { toEndUser?: Rewrite } = {}) {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst);
    const screen = new SyntheticScreen();
    stop.push(() => screen.stop());
    const exp = Date.now() + 30 * 60_000;
    const sentByEu: Record<string, unknown>[] = [];
    const euSocket = tamperingSocket(wsFactory, { outgoing: (f) => (sentByEu.push(f), f), incoming: o.toEndUser });
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream, socket: euSocket.factory });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [] });
    return { s, eu, an, sentByEu };
  }

  const brokerEnd = async (id: string) => (await analyst.api.get(`/api/v1/sessions/${id}`)).body as { state: string; end_reason: string | null };

  it('an honest session: the commitment is the first signal, both sides show the same code', async () => {
    const p = await pair();
    const codes = Promise.all([p.eu.once('sas'), p.an.once('sas')]);
    p.eu.start();
    p.an.start();
    const [x, y] = await codes;
    expect(x).toMatch(/^\d{3} \d{3}$/);
    expect(x).toBe(y);
    const signals = p.sentByEu.filter((f) => f.type === 'signal').map((f) => (f.payload as { kind: string }).kind);
    expect(signals[0]).toBe('sas-commit');
    expect(signals.filter((k) => k === 'sas-commit').length).toBeGreaterThanOrEqual(1);
    await p.an.stop();
  });

  it('a tampered reveal (not the value committed to) ends the session as verification_failed everywhere', async () => {
    const p = await pair();
    // The analyst's side reveals something other than what it committed to.
    const v = (p.an as unknown as { verification: { secret: string; prepare(): Promise<string> } }).verification;
    const origPrepare = v.prepare.bind(v);
    v.prepare = async () => {
      const c = await origPrepare();
      Object.assign(v, { secret: newSasSecret() });
      return c;
    };
    const euEnded = p.eu.once('ended');
    const anEnded = p.an.once('ended');
    let euCode: string | null = null;
    p.eu.on('sas', (c) => (euCode = c));
    p.eu.start();
    p.an.start();
    expect((await euEnded).reason).toBe('verification_failed');
    expect(p.eu.verificationFailure).toMatch(/does not match its commitment/);
    expect(euCode).toBeNull();
    expect((await anEnded).reason).toBe('verification_failed');
    await expect.poll(() => brokerEnd(p.s.id), { timeout: 3000 }).toMatchObject({ state: 'ended', end_reason: 'verification_failed' });
  });

  it('a relay that swaps the commitment it carries ends the session as verification_failed', async () => {
    const p = await pair({
      toEndUser: (f) => {
        const pl = f.payload as { kind?: string; commitment?: string } | undefined;
        if (f.type === 'signal' && pl?.kind === 'sas-commit') pl.commitment = 'A'.repeat(43);
        return f;
      },
    });
    const euEnded = p.eu.once('ended');
    p.eu.start();
    p.an.start();
    expect((await euEnded).reason).toBe('verification_failed');
    await expect.poll(() => brokerEnd(p.s.id), { timeout: 3000 }).toMatchObject({ state: 'ended', end_reason: 'verification_failed' });
  });

  it('a commitment that changes after the first is refused', async () => {
    const p = await pair();
    const codes = Promise.all([p.eu.once('sas'), p.an.once('sas')]);
    p.eu.start();
    p.an.start();
    await codes;
    const ended = (p.eu as SessionEngine).once('ended');
    (p.eu as unknown as { applySignal(x: unknown): void }).applySignal({ kind: 'sas-commit', commitment: 'B'.repeat(43) });
    expect((await ended).reason).toBe('verification_failed');
  });
});
