import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newSasSecret, sdpFingerprint, shortAuthString } from '../../common/sas.js';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { missingTurnserver, startCoturn, type Coturn } from '../helpers/coturn.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, firstFrame, nodeEngine } from '../../kit/node-session.js';

const RELAY_SUITE = 'a session forced through the coturn relay with the broker-issued credentials';
const skipRelay = skipWithout(RELAY_SUITE, missingTurnserver());

describe.skipIf(skipRelay)(RELAY_SUITE, () => {
  let turn: Coturn;
  let b: TestBroker;
  let analyst: TestUser;

  beforeAll(async () => {
    turn = await startCoturn();
    b = await startTestBroker('sqlite', { file: { turn: { urls: [turn.url], secret: turn.secret, ttl_seconds: 600 } } });
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => {
    await b?.destroy();
    await turn?.stop();
  });

  it('connects relay-only, carries video and control, and ends cleanly', async () => {
    const s = await activeSession(b, analyst);
    expect(s.endUserIce[0]!.urls).toEqual([turn.url]);
    expect(s.endUserIce[0]!.username).toMatch(new RegExp(`^\\d+:${s.id}\\.end_user$`));
    const screen = new SyntheticScreen();
    const exp = Date.now() + 30 * 60_000;
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: s.endUserIce, iceTransportPolicy: 'relay', stream: screen.stream, loopback: false });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: s.analystIce, iceTransportPolicy: 'relay', loopback: false });
    const got: string[] = [];
    eu.on('control', (c) => got.push(c.data));
    const stream = an.once('stream');
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    const [x, y] = await up;
    expect(x).toBe(y);
    const pc = (eu as unknown as { peer: { _pc: RTCPeerConnection } }).peer._pc;
    // The pair in use must be a relay candidate on our side (polled: stats settle after connect).
    const localTypeInUse = async (): Promise<string> => {
      const stats = await pc.getStats();
      const all = [...(stats as unknown as Map<string, { type: string; state?: string; localCandidateId?: string; candidateType?: string }>).values()];
      const pair = all.find((r) => r.type === 'candidate-pair' && r.state === 'succeeded');
      return all.find((r) => r.type === 'local-candidate' && pair && (r as { id?: string }).id === pair.localCandidateId)?.candidateType ?? '';
    };
    await expect.poll(localTypeInUse, { timeout: 5000 }).toBe('relay');
    expect(await firstFrame(await stream)).toEqual({ width: 320, height: 180 });
    an.sendControl({ t: 'down', button: 'left', x: 0.1, y: 0.1 });
    await expect.poll(() => got.length).toBe(1);
    const ended = eu.once('ended');
    await an.stop();
    expect((await ended).reason).toBe('completed');
    screen.stop();
  });
});

/**
 * A relay that rewrites the SDP to sit in the middle: it answers the end user with its own
 * certificate and offers to the analyst with another. Each side then sees a different pair of
 * fingerprints, so the six digits they read to each other differ.
 */
describe('short authentication string against a man in the middle', () => {
  async function connectPair(offerer: RTCPeerConnection, answerer: RTCPeerConnection): Promise<void> {
    offerer.createDataChannel('x');
    const offer = await offerer.createOffer();
    await offerer.setLocalDescription(offer);
    await answerer.setRemoteDescription(offer);
    const answer = await answerer.createAnswer();
    await answerer.setLocalDescription(answer);
    await offerer.setRemoteDescription(answer);
  }

  /** The code one side shows: its own and the remote fingerprint, its own and the revealed value. */
  async function sasOf(pc: RTCPeerConnection, role: 'end_user' | 'analyst', mine: string, theirs: string): Promise<string> {
    const local = sdpFingerprint(pc.localDescription!.sdp)!;
    const remote = sdpFingerprint(pc.remoteDescription!.sdp)!;
    return role === 'end_user'
      ? shortAuthString({ endUserFingerprint: local, analystFingerprint: remote, endUserSecret: mine, analystSecret: theirs })
      : shortAuthString({ endUserFingerprint: remote, analystFingerprint: local, endUserSecret: theirs, analystSecret: mine });
  }

  it('an honest relay gives both sides the same digits; a fingerprint-swapping one does not', async () => {
    const W = wrtc as unknown as { RTCPeerConnection: new () => RTCPeerConnection };
    const eu = new W.RTCPeerConnection();
    const an = new W.RTCPeerConnection();
    await connectPair(eu, an);
    const [rEu, rAn] = [newSasSecret(), newSasSecret()];
    expect(await sasOf(eu, 'end_user', rEu, rAn)).toBe(await sasOf(an, 'analyst', rAn, rEu));

    const eu2 = new W.RTCPeerConnection();
    const an2 = new W.RTCPeerConnection();
    const mitmToEu = new W.RTCPeerConnection();
    const mitmToAn = new W.RTCPeerConnection();
    await connectPair(eu2, mitmToEu);
    await connectPair(mitmToAn, an2);
    // Even passing each side's value through unchanged, its certificates give each side other digits.
    const a = await sasOf(eu2, 'end_user', rEu, rAn);
    const c = await sasOf(an2, 'analyst', rAn, rEu);
    expect(sdpFingerprint(eu2.remoteDescription!.sdp)).not.toBe(sdpFingerprint(an2.localDescription!.sdp));
    expect(a).not.toBe(c);
    for (const pc of [eu, an, eu2, an2, mitmToEu, mitmToAn]) pc.close();
  });
});
