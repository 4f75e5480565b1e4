import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveTool, TestCluster, waitUntil } from '../../kit/cluster.js';
import { activeSession } from '../../kit/lifecycle.js';
import { PrivatePostgres, privatePostgresMissing } from '../../kit/private-postgres.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { connectApart, viaBalancer } from '../helpers/cluster-sockets.js';

/**
 * PostgreSQL goes away under a running cluster (a private server on its own port, never the
 * machine's): no instance crashes, every one says it is not ready and why, requests that need the
 * database are refused with a clear 503 instead of hanging, a kill that could not be stored is
 * refused rather than claimed, and the cluster recovers by itself when the server is back.
 */
const missing = ['haproxy', 'redis-server'].filter((t) => !haveTool(t));
const noPg = privatePostgresMissing();
if (noPg) missing.push(noPg);

describe.skipIf(skipWithout('broker cluster (PostgreSQL outage)', missing))('broker cluster: PostgreSQL stopped and started', () => {
  let pg: PrivatePostgres;
  let c: TestCluster;

  beforeAll(async () => {
    pg = await PrivatePostgres.start();
    c = await TestCluster.start({ instances: 2, databaseUrl: pg.url, users: [{ username: 'alice', roles: ['analyst'] }, { username: 'root', roles: ['admin'] }] });
  }, 240_000);
  afterAll(async () => {
    await c?.stop();
    await pg?.remove();
  }, 60_000);

  const readiness = () => Promise.all(c.instances.map(async (i) => (await fetch(`${i.url}/readyz`)).status));

  it('the instances stay up and say why they are not ready; new work and a kill are refused clearly; all recovers by itself', async () => {
    const alice = c.user('alice');
    const s = await activeSession(viaBalancer(c), alice);
    const { eu, an } = await connectApart(c, alice, s);

    await pg.down();
    await waitUntil(async () => (await readiness()).every((st) => st === 503), 'every instance to say it is not ready', 15_000, 200);
    const why = await (await fetch(`${c.instances[0]!.url}/readyz`)).json();
    expect(why).toEqual({ error: { code: 'not_ready', message: expect.stringContaining('database') } });

    const started = Date.now();
    const refused = await alice.api.post('/api/v1/sessions', { ticket: 'INC-2', reason: 'printer driver will not install', capabilities: ['view'], duration_minutes: 30 });
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.body.error.code).toBe('database_unavailable');
    // Refused at once, not after the balancer's or the client's own timeout.
    expect(Date.now() - started).toBeLessThan(10_000);

    // A kill the broker cannot store is refused, so the admin knows to try again; it is never
    // answered as done while the session would go on.
    const kill = await c.user('root').api.post(`/api/v1/sessions/${s.id}/kill`, {});
    expect(kill.status, JSON.stringify(kill.body)).toBe(503);
    expect(kill.body.error.code).toBe('database_unavailable');

    // The live session's two sides still relay through Redis meanwhile (nothing needs the database for that).
    an.sendJson({ type: 'signal', payload: { kind: 'candidate', candidate: 'candidate:7 1 udp 1 10.0.0.1 5007 typ host', sdpMid: '0', sdpMLineIndex: 0 } });
    await eu.next((f) => f.type === 'signal' && (f.payload as { candidate?: string }).candidate?.startsWith('candidate:7 ') === true, 10_000);

    for (const inst of c.instances) expect(inst.proc?.exitCode ?? null, `instance ${inst.id} crashed: ${inst.log.join('').slice(-2000)}`).toBeNull();

    await pg.up();
    await waitUntil(async () => (await readiness()).every((st) => st === 200), 'every instance to be ready again', 30_000, 200);
    // The kill refused before now works, and closes both sockets wherever they are.
    const again = await c.user('root').api.post(`/api/v1/sessions/${s.id}/kill`, {});
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(await eu.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'revoked' });
    expect(await an.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'revoked' });
    const s2 = await activeSession(viaBalancer(c), alice);
    expect(s2.id).not.toBe(s.id);
  }, 180_000);
});
