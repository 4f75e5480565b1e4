import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTool, TestCluster } from '../../kit/cluster.js';
import { activeSession } from '../../kit/lifecycle.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { connectApart, viaBalancer } from '../helpers/cluster-sockets.js';

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
});
