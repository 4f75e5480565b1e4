import wrtc from '@roamhq/wrtc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine, wsFactory } from '../../kit/node-session.js';
import { tamperingSocket } from '../helpers/tampering-socket.js';

/**
 * Pausing sharing (docs/session-protocol.md, "Media"): the end user's sender stops sending with
 * replaceTrack(null) and takes the same track back on resume, so nothing is renegotiated (stacks
 * such as werift cannot follow a section going recvonly and a new one appearing), and the analyst
 * is told on the control channel, so its viewer says sharing is paused instead of freezing.
 */
describe('pausing and resuming the shared screen', () => {
  let b: TestBroker;
  let analyst: TestUser;
  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  /** Frames the analyst decodes from a track, counted while `ms` pass. */
  async function framesDuring(track: MediaStreamTrack, ms: number): Promise<number> {
    const sink = new wrtc.nonstandard.RTCVideoSink(track);
    let n = 0;
    sink.onframe = () => void n++;
    await new Promise((r) => setTimeout(r, ms));
    sink.stop();
    return n;
  }

  it('no renegotiation, nothing flows while paused, the same track flows again after resume, and the analyst hears both', async () => {
    const s = await activeSession(b, analyst);
    const screen = new SyntheticScreen();
    const exp = Date.now() + 30 * 60_000;
    const signals: string[] = [];
    const euSocket = tamperingSocket(wsFactory, {
      outgoing: (f) => {
        if (f.type === 'signal') signals.push((f.payload as { kind: string }).kind);
        return f;
      },
    });
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream, socket: euSocket.factory });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [] });
    const streams: MediaStream[] = [];
    an.on('stream', (st) => streams.push(st));
    const shares: boolean[] = [];
    an.on('share', (x) => shares.push(x.paused));
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    await up;
    await expect.poll(() => streams.length).toBeGreaterThan(0);
    const track = streams[0]!.getVideoTracks()[0]!;
    expect(await framesDuring(track, 700)).toBeGreaterThan(3);
    const negotiated = signals.filter((k) => k === 'offer' || k === 'renegotiate').length;

    eu.pauseSharing();
    await expect.poll(() => shares).toEqual([true]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await framesDuring(track, 1000)).toBe(0);
    // The capture itself is not stopped: resuming needs no new permission.
    expect(screen.track.readyState).toBe('live');

    eu.resumeSharing();
    await expect.poll(() => shares).toEqual([true, false]);
    await expect.poll(() => framesDuring(track, 500), { timeout: 5000 }).toBeGreaterThan(3);
    // Not one offer more, and no second stream: the same m-section carried on.
    await new Promise((r) => setTimeout(r, 500));
    expect(signals.filter((k) => k === 'offer' || k === 'renegotiate').length).toBe(negotiated);
    expect(streams.map((x) => x.id).filter((id, i, a) => a.indexOf(id) === i)).toHaveLength(1);
    const ended = eu.once('ended');
    await an.stop();
    await ended;
    expect(screen.track.readyState).toBe('ended');
    screen.stop();
  });
});
