import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { haveTool, TestCluster, waitUntil } from '../../kit/cluster.js';
import { activeSession } from '../../kit/lifecycle.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { connectApart, connectVia, reconnect, viaBalancer } from '../helpers/cluster-sockets.js';
import type { SignalingClient } from '../../kit/signaling-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const candidate = (n: number) => ({ type: 'signal', payload: { kind: 'candidate', candidate: `candidate:${n} 1 udp 1 10.0.0.1 ${5000 + n} typ host`, sdpMid: '0', sdpMLineIndex: 0 } });
/** A signal sent one way arrives the other way. */
async function relays(from: SignalingClient, to: SignalingClient, n: number): Promise<void> {
  from.sendJson(candidate(n));
  await to.next((f) => f.type === 'signal' && (f.payload as { candidate?: string }).candidate?.startsWith(`candidate:${n} `) === true, 10_000);
}

// Three broker processes on one PostgreSQL schema and one Redis prefix, HAProxy in front; every
// client talks to the balancer only.
const missing = ['haproxy', 'redis-server'].filter((t) => !haveTool(t));

describe.skipIf(skipWithout('broker cluster', missing))('broker cluster: three instances behind HAProxy', () => {
  let c: TestCluster;

  beforeAll(async () => {
    c = await TestCluster.start({
      instances: 3,
      users: [
        { username: 'alice', roles: ['analyst'] },
        { username: 'bob', roles: ['approver'] },
        { username: 'root', roles: ['admin'] },
      ],
    });
  }, 180_000);
  afterAll(async () => c?.stop(), 60_000);

  it('runs a whole session with the analyst and the end user on different instances', async () => {
    const alice = c.user('alice');
    const s = await activeSession(viaBalancer(c), alice, { caps: ['view', 'control'], approver: c.user('bob') });
    const { eu, an, euOn, anOn } = await connectApart(c, alice, s);
    expect(euOn).not.toBe(anOn);
    expect(an.ready?.peer_online).toBe(true);

    // Signals cross in order, each once, both ways.
    const seen = (client: typeof eu) => {
      const ns: number[] = [];
      client.ws.on('message', (d) => {
        const f = JSON.parse(String(d)) as { type: string; payload?: { kind?: string; candidate?: string } };
        if (f.type === 'signal' && f.payload?.kind === 'candidate') ns.push(Number(f.payload.candidate!.split(/[: ]/)[1]));
      });
      return ns;
    };
    const atEu = seen(eu);
    const atAn = seen(an);
    for (let i = 0; i < 40; i++) an.sendJson({ type: 'signal', payload: { kind: 'candidate', candidate: `candidate:${i} 1 udp 1 10.0.0.1 ${5000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0 } });
    for (let i = 0; i < 40; i++) eu.sendJson({ type: 'signal', payload: { kind: 'candidate', candidate: `candidate:${i} 1 udp 1 10.0.0.1 ${5000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0 } });
    await eu.next((f) => f.type === 'signal' && (f.payload as { candidate?: string }).candidate?.startsWith('candidate:39 ') === true, 10_000);
    await an.next((f) => f.type === 'signal' && (f.payload as { candidate?: string }).candidate?.startsWith('candidate:39 ') === true, 10_000);
    // A last pair of frames: anything duplicated would have arrived before them.
    an.sendJson({ type: 'signal', payload: { kind: 'renegotiate' } });
    eu.sendJson({ type: 'signal', payload: { kind: 'renegotiate' } });
    await eu.next((f) => f.type === 'signal' && (f.payload as { kind: string }).kind === 'renegotiate');
    await an.next((f) => f.type === 'signal' && (f.payload as { kind: string }).kind === 'renegotiate');
    expect(atEu).toEqual([...Array(40).keys()]);
    expect(atAn).toEqual([...Array(40).keys()]);

    // A grant asked on one instance, answered on the other, heard by both.
    an.sendJson({ type: 'grant.request', request_id: 'r-cluster-1', capability: 'control' });
    const asked = await eu.next((f) => f.type === 'grant.request', 10_000);
    expect(asked).toMatchObject({ request_id: 'r-cluster-1', capability: 'control' });
    eu.sendJson({ type: 'grant.response', request_id: 'r-cluster-1', capability: 'control', allow: true });
    expect(await eu.next((f) => f.type === 'grant.changed', 10_000)).toMatchObject({ capability: 'control', granted: true, by: 'end_user' });
    expect(await an.next((f) => f.type === 'grant.changed', 10_000)).toMatchObject({ capability: 'control', granted: true, by: 'end_user' });

    an.sendJson({ type: 'end' });
    expect(await eu.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'completed' });
    expect(await an.closed()).toBe(4000);
    expect(await eu.closed()).toBe(4000);
    const after = await alice.api.get(`/api/v1/sessions/${s.id}`);
    expect(after.body).toMatchObject({ state: 'ended', end_reason: 'completed' });
  }, 90_000);

  it('SIGKILL of the instance holding both sockets: both reconnect through the balancer with their tokens and the session goes on', async () => {
    const alice = c.user('alice');
    const s = await activeSession(viaBalancer(c), alice);
    const eu = await connectVia(c, s.endUserToken, s.endUser.device);
    const an = await connectVia(c, s.analystToken, alice.api.device, [0, 1, 2].filter((i) => i !== eu.on));
    expect(an.on).toBe(eu.on);
    const before = (await alice.api.get(`/api/v1/sessions/${s.id}`)).body as { state: string; expires_at: number };
    const victim = eu.on;
    await c.kill(victim);
    const t0 = Date.now();
    // The clients see their sockets drop and connect again, no new consent, the same tokens.
    const [eu2, an2] = await Promise.all([reconnect(c, s.endUserToken, s.endUser.device), reconnect(c, s.analystToken, alice.api.device)]);
    const reconnectMs = Date.now() - t0;
    console.info(`[cluster] both sides reconnected ${reconnectMs} ms after their instance was killed`);
    // Within the grace period: the end user's heartbeat timeout (15 s by default).
    expect(reconnectMs).toBeLessThan(15_000);
    await relays(an2, eu2, 1);
    await relays(eu2, an2, 2);
    // Past the lease's takeover: still active, not extended, still relaying.
    await sleep(5000);
    const after = (await alice.api.get(`/api/v1/sessions/${s.id}`)).body as { state: string; expires_at: number };
    expect(after.state).toBe('active');
    expect(after.expires_at).toBe(before.expires_at);
    expect(await c.leaseHolder(s.id)).not.toBe(victim);
    await relays(an2, eu2, 3);
    an2.sendJson({ type: 'end' });
    expect(await eu2.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'completed' });
    await c.revive(victim);
  }, 120_000);

  it('SIGKILL of the timer owner just before the end: the session still ends on time (within the takeover bound)', async () => {
    const alice = c.user('alice');
    const s = await activeSession(viaBalancer(c), alice, { duration: 1 });
    let owner: number | null = null;
    await waitUntil(async () => (owner = await c.leaseHolder(s.id)) !== null, 'a lease holder');
    const { eu, an } = await connectApart(c, alice, s, [owner!]);
    // As the app does: a silent end user is lost after 15 s (peer_lost), whichever instance decides.
    const beat = setInterval(() => {
      for (const x of [eu, an]) if (x.ws.readyState === x.ws.OPEN) x.sendJson({ type: 'heartbeat' });
    }, 3000);
    onTestFinished(() => clearInterval(beat));
    const view = (await alice.api.get(`/api/v1/sessions/${s.id}`)).body as { expires_at: number };
    await sleep(Math.max(0, view.expires_at - Date.now() - 1500));
    await c.kill(owner!);
    const ended = await eu.next((f) => f.type === 'session.ended', 70_000);
    const late = Date.now() - view.expires_at;
    console.info(`[cluster] the session ended ${late} ms after its expiry (its timer owner was killed 1.5 s before)`);
    expect(ended).toMatchObject({ reason: 'expired' });
    expect(await an.next((f) => f.type === 'session.ended', 5000)).toMatchObject({ reason: 'expired' });
    // Ends no more than the takeover bound (5 s) after its expiry, and not before it.
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(5000);
    await c.revive(owner!);
  }, 150_000);
});
