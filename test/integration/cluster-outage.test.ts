import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTool, PrivateRedis, TestCluster, waitUntil } from '../../kit/cluster.js';
import { activeSession, requestSession } from '../../kit/lifecycle.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { connectApart, viaBalancer } from '../helpers/cluster-sockets.js';

/**
 * Redis goes away under a running cluster (a private redis-server on its own port, never the
 * machine's): the instances say they are not ready, refuse new sessions clearly, lose no
 * revocation, and recover by themselves when it is back.
 */
const missing = ['haproxy', 'redis-server'].filter((t) => !haveTool(t));

describe.skipIf(skipWithout('broker cluster (Redis outage)', missing))('broker cluster: Redis stopped and started', () => {
  let redis: PrivateRedis;
  let c: TestCluster;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    c = await TestCluster.start({ instances: 3, redisUrl: redis.url, users: [{ username: 'alice', roles: ['analyst'] }, { username: 'root', roles: ['admin'] }] });
  }, 240_000);
  afterAll(async () => {
    await c?.stop();
    await redis?.down();
  }, 60_000);

  const readiness = () => Promise.all(c.instances.map(async (i) => (await fetch(`${i.url}/readyz`)).status));

  it('a kill issued while Redis is away ends the session at once and closes every socket once Redis is back; the cluster recovers by itself', async () => {
    const alice = c.user('alice');
    const s = await activeSession(viaBalancer(c), alice);
    const { eu, an } = await connectApart(c, alice, s);
    const beat = setInterval(() => {
      for (const x of [eu, an]) if (x.ws.readyState === x.ws.OPEN) x.sendJson({ type: 'heartbeat' });
    }, 3000);
    try {
      await redis.down();
      await waitUntil(async () => (await readiness()).every((st) => st === 503), 'every instance to say it is not ready', 15_000, 200);
      const why = await (await fetch(`${c.instances[0]!.url}/readyz`)).json();
      expect(why).toEqual({ error: { code: 'not_ready', message: expect.stringContaining('Redis') } });

      // New sessions are refused, clearly (the balancer still reaches the instances for that).
      const refused = await alice.api.post('/api/v1/sessions', { ticket: 'INC-1', reason: 'printer driver will not install', capabilities: ['view'], duration_minutes: 30 });
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('cluster_unavailable');

      // The kill switch still works: stored as ended at once.
      const kill = await c.user('root').api.post(`/api/v1/sessions/${s.id}/kill`, {});
      expect(kill.status, JSON.stringify(kill.body)).toBe(200);
      expect(kill.body).toMatchObject({ state: 'ended', end_reason: 'revoked' });

      await redis.up();
      const back = Date.now();
      // Every socket closes once Redis is back, wherever it was (the instances check their sessions against the store).
      expect(await eu.next((f) => f.type === 'session.ended', 20_000)).toMatchObject({ reason: 'revoked' });
      expect(await an.next((f) => f.type === 'session.ended', 20_000)).toMatchObject({ reason: 'revoked' });
      expect(await eu.closed(10_000)).toBe(4000);
      expect(await an.closed(10_000)).toBe(4000);
      console.info(`[cluster] both sockets of the killed session closed ${Date.now() - back} ms after Redis came back`);

      await waitUntil(async () => (await readiness()).every((st) => st === 200), 'every instance to be ready again', 20_000, 200);
      // And a new session runs, on instances that found Redis again by themselves.
      await new Promise((r) => setTimeout(r, 1000));
      const s2 = await activeSession(viaBalancer(c), alice);
      const both = await connectApart(c, alice, s2);
      both.an.sendJson({ type: 'end' });
      expect(await both.eu.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'completed' });
      expect((await requestSession(alice)).state).toBe('approved');
    } finally {
      clearInterval(beat);
    }
  }, 180_000);
});
