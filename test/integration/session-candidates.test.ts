import { afterEach, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine, wsFactory } from '../../kit/node-session.js';
import { tamperingSocket } from '../helpers/tampering-socket.js';

/**
 * Candidates as another WebRTC stack sends them: both `sdpMid` and `sdpMLineIndex` are optional
 * on the wire (docs/signaling.md, docs/session-protocol.md), and a candidate a side cannot apply
 * is dropped, never the end of the session. And when a client gives a session up by itself, the
 * broker hears it at once rather than 15 s later from the heartbeat timeout.
 */
describe('ICE candidates from any stack, and a client that gives up', () => {
  let b: TestBroker;
  let analyst: TestUser;
  const stop: (() => void)[] = [];
  afterEach(async () => {
    for (const f of stop.splice(0)) f();
    await b?.destroy();
  });

  async function pair(o: { stripCandidates?: boolean } = {}) {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    const s = await activeSession(b, analyst);
    const screen = new SyntheticScreen();
    stop.push(() => screen.stop());
    const exp = Date.now() + 30 * 60_000;
    // Both sides speak as a stack that trickles every candidate (none inside the SDP, as Chromium
    // does) and sends them without sdpMid and sdpMLineIndex.
    const strip = (f: Record<string, unknown>) => {
      const p = f.payload as { kind?: string; sdp?: string; sdpMid?: unknown; sdpMLineIndex?: unknown } | undefined;
      if (!o.stripCandidates || f.type !== 'signal' || !p) return f;
      if (p.kind === 'candidate') {
        delete p.sdpMid;
        delete p.sdpMLineIndex;
      }
      if (typeof p.sdp === 'string') p.sdp = p.sdp.split('\r\n').filter((l) => !l.startsWith('a=candidate:')).join('\r\n');
      return f;
    };
    const anSocket = tamperingSocket(wsFactory, { outgoing: strip });
    const euSocket = tamperingSocket(wsFactory, { outgoing: strip });
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream, graceMs: 800, socket: euSocket.factory });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [], graceMs: 800, socket: anSocket.factory });
    return { s, eu, an, euSocket };
  }

  it('connects when every candidate of the other side comes without sdpMid and sdpMLineIndex', async () => {
    const p = await pair({ stripCandidates: true });
    p.eu.start();
    p.an.start();
    await expect.poll(() => [p.eu.state, p.an.state], { timeout: 10_000 }).toEqual(['connected', 'connected']);
    await p.an.stop();
  });

  it('drops candidates it cannot apply and keeps the session', async () => {
    const p = await pair();
    const up = Promise.all([p.eu.once('sas'), p.an.once('sas')]);
    p.eu.start();
    p.an.start();
    await up;
    const dropped = p.eu.candidatesDropped;
    // An m-section that does not exist, a candidate line that does not parse, neither index.
    p.euSocket.inject({ type: 'signal', from: 'analyst', payload: { kind: 'candidate', candidate: 'candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host', sdpMid: 'no-such-mid' } });
    p.euSocket.inject({ type: 'signal', from: 'analyst', payload: { kind: 'candidate', candidate: 'candidate:garbage', sdpMLineIndex: 0 } });
    p.euSocket.inject({ type: 'signal', from: 'analyst', payload: { kind: 'candidate', candidate: 'candidate:2 1 udp 2122260223 127.0.0.1 50001 typ host' } });
    await expect.poll(() => p.eu.candidatesDropped, { timeout: 5000 }).toBeGreaterThanOrEqual(dropped + 1);
    await new Promise((r) => setTimeout(r, 2500));
    expect(p.eu.state).toBe('connected');
    expect(p.an.state).toBe('connected');
    expect(p.an.sendControl({ t: 'text', text: 'still here' })).toBe(true);
    const ended = p.eu.once('ended');
    await p.an.stop();
    expect((await ended).reason).toBe('completed');
  });

  it('a client that ends the session by itself (peer lost) tells the broker at once', async () => {
    const p = await pair();
    const up = Promise.all([p.eu.once('sas'), p.an.once('sas')]);
    p.eu.start();
    p.an.start();
    await up;
    const euEnded = p.eu.once('ended');
    // The analyst's machine vanishes from the peer connection; signaling stays up on both sides.
    (p.an as unknown as { peer: { destroy(): void } }).peer.destroy();
    expect((await euEnded).reason).toBe('peer_lost');
    const at = Date.now();
    // Not after the heartbeat timeout (15 s): the end frame carried the reason.
    await expect.poll(async () => (await analyst.api.get(`/api/v1/sessions/${p.s.id}`)).body, { timeout: 3000 }).toMatchObject({ state: 'ended', end_reason: 'peer_lost' });
    expect(Date.now() - at).toBeLessThan(3000);
  });
});
