import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../kit/api.js';
import type { TestBroker, TestUser } from '../../kit/broker.js';
import { haveTool, TestCluster } from '../../kit/cluster.js';
import { activeSession } from '../../kit/lifecycle.js';
import { fakeChunk, uploadChunk } from '../../kit/recording.js';
import { SignalingClient } from '../../kit/signaling-client.js';
import { WatchClient } from '../../kit/watch-client.js';
import { skipWithout } from '../helpers/needs-tools.js';

const missing = ['haproxy', 'redis-server'].filter((t) => !haveTool(t));

/** The same signed-in account, talking to one instance directly. */
function on(url: string, u: TestUser): TestUser {
  const api = new ApiClient(url, u.api.device);
  api.accessToken = u.api.accessToken;
  api.refreshToken = u.api.refreshToken;
  return { ...u, api };
}

// Two broker processes on one PostgreSQL schema and Redis prefix: the session, its end user and its
// analyst on the first, the watcher on the second. Its watch must count there (the requirement is
// decided by the session's lease holder), and what happens on either side must reach the other.
describe.skipIf(skipWithout('watchers across a cluster', missing))('watchers across a cluster', () => {
  let c: TestCluster;

  beforeAll(async () => {
    c = await TestCluster.start({
      instances: 2,
      users: [
        { username: 'alice', roles: ['analyst'] },
        { username: 'bob', roles: ['approver'] },
        { username: 'sue', roles: ['supervisor'] },
      ],
      file: {
        policy: {
          // Node clients upload no real recording: best effort, so control does not wait on one.
          recordings: { with_control: 'best_effort', view_only: 'best_effort' },
          require_watcher: { count: 1, roles: ['supervisor'], on_leave: 'suspend', grace_s: 5, for: { analyst_kinds: [], ticket_prefixes: ['VND-'] } },
        },
      },
    });
  }, 180_000);
  afterAll(async () => c?.stop(), 60_000);

  it('a watcher on another instance counts, sees the chunks stored on the first, and its suspension and leave reach both parties', async () => {
    const [a, b] = [c.instances[0]!.url, c.instances[1]!.url];
    const alice = on(a, c.user('alice'));
    const s = await activeSession({ url: a } as TestBroker, alice, { caps: ['view', 'control'], approver: on(a, c.user('bob')), ticket: 'VND-7' });
    const eu = await SignalingClient.connect(a, s.endUserToken, s.endUser.device);
    const an = await SignalingClient.connect(a, s.analystToken, alice.api.device);
    const beat = setInterval(() => eu.sendJson({ type: 'heartbeat' }), 2000);
    try {
      expect((await an.nextOfType('presence')).watchers_needed).toBe(1);
      an.sendJson({ type: 'grant.request', request_id: 'c1', capability: 'control' });
      expect((await an.nextOfType('error', 10_000)).code).toBe('watchers_required');

      const sue = on(b, c.user('sue'));
      const w = await WatchClient.watch(b, sue.api, s.id);
      expect(w.ready).toMatchObject({ counts: true, watchers_needed: 0 });
      const seen = await an.next((f) => f.type === 'presence' && f.present.some((p) => p.name.startsWith('Sue')), 10_000);
      expect(seen).toMatchObject({ watchers_needed: 0 });
      await eu.next((f) => f.type === 'presence' && f.present.some((p) => p.name.startsWith('Sue')), 10_000);

      // Counted by the holder on the other instance: control may be asked for now.
      an.sendJson({ type: 'grant.request', request_id: 'c2', capability: 'control' });
      expect(await eu.nextOfType('grant.request', 10_000)).toMatchObject({ request_id: 'c2' });

      // A chunk stored through the first instance reaches the watcher on the second.
      const chunk = fakeChunk(0, 5000);
      expect((await uploadChunk(a, s.endUser.device, s.endUserToken, s.id, 0, chunk)).status).toBe(200);
      await w.untilChunks(1, 10_000);
      expect(w.chunks[0]!.bytes.equals(chunk)).toBe(true);

      // Suspended on the second instance, the end user's gate on the first hears it.
      expect((await sue.api.post(`/api/v1/sessions/${s.id}/moderation/suspend`, { reason: 'hold on' })).status).toBe(200);
      expect((await eu.nextOfType('control.state', 10_000)).control).toMatchObject({ suspended: true, reasons: ['by_watcher'], by: 'Sue Tester', note: 'hold on' });
      expect((await sue.api.post(`/api/v1/sessions/${s.id}/moderation/resume`, {})).status).toBe(200);
      expect((await eu.nextOfType('control.state', 10_000)).control.suspended).toBe(false);

      // The watcher leaves on the second instance: the holder suspends control at once.
      w.close();
      expect((await eu.nextOfType('control.state', 10_000)).control).toMatchObject({ suspended: true, reasons: ['watcher_left'] });
      expect((await an.nextOfType('control.state', 10_000)).control.suspended).toBe(true);
    } finally {
      clearInterval(beat);
      eu.close();
      an.close();
    }
  }, 120_000);
});
