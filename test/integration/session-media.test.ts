import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import wrtc from '@roamhq/wrtc';
import { createUser, startTestBroker, type TestBroker, type TestUser } from '../../kit/broker.js';
import { activeSession } from '../../kit/lifecycle.js';
import { SyntheticScreen, nodeEngine } from '../../kit/node-session.js';

/** Resolves with the size of the next frame that arrives on the track. */
function nextFrame(track: MediaStreamTrack, timeoutMs = 8000): Promise<{ width: number; height: number }> {
  const sink = new wrtc.nonstandard.RTCVideoSink(track);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      sink.stop();
      reject(new Error('no frame'));
    }, timeoutMs);
    sink.onframe = ({ frame }: { frame: { width: number; height: number } }) => {
      clearTimeout(t);
      sink.stop();
      resolve({ width: frame.width, height: frame.height });
    };
  });
}

describe('media and chat inside a session', () => {
  let b: TestBroker;
  let analyst: TestUser;
  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
  });
  afterAll(async () => b?.destroy());

  it('the shared screen changes in place, also while paused, and chat flows both ways (pausing: session-pause.test.ts)', async () => {
    const s = await activeSession(b, analyst);
    const screen = new SyntheticScreen(320, 180);
    const exp = Date.now() + 30 * 60_000;
    const eu = nodeEngine(s.endUser.device, { role: 'end_user', brokerUrl: b.url, token: s.endUserToken, expiresAt: exp, iceServers: [], stream: screen.stream });
    const an = nodeEngine(analyst.api.device, { role: 'analyst', brokerUrl: b.url, token: s.analystToken, expiresAt: exp, iceServers: [] });
    const chats: string[] = [];
    eu.on('control', (c) => chats.push(c.data));
    const analystChats: string[] = [];
    an.on('chat', (t) => analystChats.push(t));
    const streams: MediaStream[] = [];
    an.on('stream', (st) => streams.push(st));
    const up = Promise.all([eu.once('sas'), an.once('sas')]);
    eu.start();
    an.start();
    await up;
    await expect.poll(() => streams.length).toBeGreaterThan(0);
    expect(await nextFrame(streams[0]!.getVideoTracks()[0]!)).toEqual({ width: 320, height: 180 });

    // Another screen: a track of another size replaces the first without renegotiation.
    const other = new SyntheticScreen(640, 360, [0, 0, 255]);
    await eu.replaceScreen(other.track);
    await expect.poll(async () => (await nextFrame(streams.at(-1)!.getVideoTracks()[0]!)).width, { timeout: 8000 }).toBe(640);
    // Swapped while paused: nothing goes out until resume, then the newest screen does.
    expect(await eu.pauseSharing()).toBe(true);
    const third = new SyntheticScreen(480, 270, [0, 255, 0]);
    await eu.replaceScreen(third.track);
    await expect(nextFrame(streams.at(-1)!.getVideoTracks()[0]!, 1500)).rejects.toThrow('no frame');
    expect(other.track.readyState).toBe('ended');
    expect(await eu.resumeSharing()).toBe(true);
    await expect.poll(async () => (await nextFrame(streams.at(-1)!.getVideoTracks()[0]!)).width, { timeout: 8000 }).toBe(480);
    expect(new Set(streams.map((x) => x.id)).size).toBe(1);

    expect(an.sendChat('hello from support')).toBe(true);
    expect(eu.sendChat('thanks!')).toBe(true);
    expect(an.sendChat('x'.repeat(2001))).toBe(false);
    await expect.poll(() => chats.some((c) => c.includes('hello from support'))).toBe(true);
    await expect.poll(() => analystChats).toEqual(['thanks!']);
    await an.stop();
    screen.stop();
    other.stop();
    third.stop();
  });
});
