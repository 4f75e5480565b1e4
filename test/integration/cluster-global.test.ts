import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpAt, totpStep } from '../../broker/auth/totp.js';
import { ApiClient } from '../../kit/api.js';
import { verifyStoredLog } from '../../broker/audit/verify.js';
import { PG_URL, freshTotp } from '../../kit/broker.js';
import { haveTool, TestCluster, waitUntil } from '../../kit/cluster.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession } from '../../kit/lifecycle.js';
import { skipWithout } from '../helpers/needs-tools.js';
import { connectApart, viaBalancer } from '../helpers/cluster-sockets.js';

/**
 * What must be global in a cluster is: an end, a disabled account, a closed ticket close the
 * sockets on whichever instance holds them; the counters and replay caches (in PostgreSQL, behind
 * broker/storage/limits.ts) hold whichever instance a request reaches.
 */
/**
 * A code not used yet that the broker takes now: the kit hands out later steps when this one was
 * used (sign-ins in quick succession), and the broker takes at most one step ahead, so wait.
 */
async function usableTotp(secret: string): Promise<string> {
  const code = freshTotp(secret);
  const now = totpStep(Date.now());
  const step = [0, 1, 2, 3, 4, 5].map((d) => now + d).find((k) => totpAt(secret, k) === code) ?? now;
  while (totpStep(Date.now()) < step - 1) await new Promise((r) => setTimeout(r, 200));
  return code;
}

const missing = ['haproxy', 'redis-server'].filter((t) => !haveTool(t));

describe.skipIf(skipWithout('broker cluster (global effects)', missing))('broker cluster: global effects across three instances', () => {
  let c: TestCluster;

  beforeAll(async () => {
    c = await TestCluster.start({
      instances: 3,
      // The balancer on loopback is trusted to name the client, so a test can speak for several sources.
      file: { trusted_proxies: ['127.0.0.1'], rate_limits: { join_failures_per_source: 10 } as never },
      users: [
        { username: 'alice', roles: ['analyst'] },
        { username: 'erin', roles: ['analyst'] },
        { username: 'carol', roles: ['analyst'] },
        { username: 'dave', roles: ['analyst'] },
        { username: 'bob', roles: ['approver'] },
        { username: 'root', roles: ['admin'] },
      ],
    });
  }, 240_000);
  afterAll(async () => c?.stop(), 60_000);

  const third = (a: number, b: number) => [0, 1, 2].find((i) => i !== a && i !== b)!;

  /** chaperone_sessions_ended_total{reason} summed over the three instances' /metrics. */
  const endedCount = async (reason: string) => {
    let n = 0;
    for (const i of c.instances) {
      const text = await (await fetch(`${i.url}/metrics`)).text();
      n += Number(new RegExp(`^chaperone_sessions_ended_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    }
    return n;
  };

  it('the kill switch issued on a third instance closes both sockets on the other two', async () => {
    const s = await activeSession(viaBalancer(c), c.user('alice'));
    const { eu, an, euOn, anOn } = await connectApart(c, c.user('alice'), s);
    const revokedBefore = await endedCount('revoked');
    const t0 = Date.now();
    const kill = await c.apiOn('root', third(euOn, anOn)).post(`/api/v1/sessions/${s.id}/kill`, {});
    expect(kill.status, JSON.stringify(kill.body)).toBe(200);
    expect(await eu.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'revoked' });
    expect(await an.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'revoked' });
    expect(await an.closed()).toBe(4000);
    expect(await eu.closed()).toBe(4000);
    expect(Date.now() - t0).toBeLessThan(5000);
    // Counted once in the cluster's metrics, not once per instance that held a copy.
    expect(await endedCount('revoked')).toBe(revokedBefore + 1);
    // Its tokens are dead on every instance.
    for (let i = 0; i < 3; i++) await expect(import('../../kit/signaling-client.js').then((m) => m.SignalingClient.connect(c.instances[i]!.url, s.endUserToken, s.endUser.device))).rejects.toThrow(/token_revoked|closed 4001/);
  }, 90_000);

  it('an account disabled on one instance loses its socket on another', async () => {
    const s = await activeSession(viaBalancer(c), c.user('erin'));
    const { eu, an, euOn, anOn } = await connectApart(c, c.user('erin'), s);
    const dis = await c.apiOn('root', euOn === anOn ? third(euOn, anOn) : euOn).post('/api/v1/admin/users/erin/disable', {});
    expect(dis.status, JSON.stringify(dis.body)).toBe(200);
    expect(await an.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'account_revoked' });
    expect(await eu.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'account_revoked' });
    expect(await an.closed()).toBe(4000);
  }, 90_000);

  it('the audit chain stays one chain while every instance appends to it at once', async () => {
    // Sessions started and killed in parallel through the balancer: each instance appends its
    // batches under the chain's lock, taking in what queued while another held it.
    await Promise.all(
      Array.from({ length: 9 }, async (_, i) => {
        const s = await activeSession(viaBalancer(c), c.user(['alice', 'carol', 'dave'][i % 3]!));
        const kill = await c.apiOn('root', i % 3).post(`/api/v1/sessions/${s.id}/kill`, {});
        expect(kill.status, JSON.stringify(kill.body)).toBe(200);
      }),
    );
    const r = await verifyStoredLog({ dataDir: c.dataDir, databaseUrl: PG_URL, pgSchema: c.pgSchema });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.events).toBeGreaterThan(9 * 6);
  }, 90_000);

  it('a closed ticket ends the session on every instance', async () => {
    const ticket = `INC-${crypto.randomInt(1e9)}`;
    const s = await activeSession(viaBalancer(c), c.user('alice'), { ticket });
    const { eu, an, euOn, anOn } = await connectApart(c, c.user('alice'), s);
    const raw = JSON.stringify({ event_id: crypto.randomUUID(), ticket, status: 'closed' });
    const ts = Math.floor(Date.now() / 1000);
    const sig = `v1=${crypto.createHmac('sha256', c.ticketWebhookSecret).update(`${ts}.${raw}`).digest('hex')}`;
    const headers = { 'content-type': 'application/json', 'x-chaperone-timestamp': String(ts), 'x-chaperone-signature': sig };
    const at = third(euOn, anOn);
    const res = await fetch(`${c.instances[at]!.url}/api/v1/webhooks/tickets`, { method: 'POST', headers, body: raw });
    expect(res.status).toBe(200);
    expect(await eu.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'ticket_closed' });
    expect(await an.next((f) => f.type === 'session.ended', 10_000)).toMatchObject({ reason: 'ticket_closed' });
    // The same delivery again, to another instance: its id was seen, it is refused.
    const again = await fetch(`${c.instances[euOn]!.url}/api/v1/webhooks/tickets`, { method: 'POST', headers, body: raw });
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('webhook_replayed');
  }, 90_000);

  it('a request for more time is decided by an approver on an instance that is not the session\'s lease holder', async () => {
    const s = await activeSession(viaBalancer(c), c.user('alice'), { caps: ['view', 'control'], approver: c.user('bob') });
    const { eu, an } = await connectApart(c, c.user('alice'), s);
    an.sendJson({ type: 'extend.request', request_id: 'more-time-1', minutes: 10 });
    const pending = (await an.next((f) => f.type === 'extend.pending_approval', 10_000)) as { extension_id: string };
    let holder: number | null = null;
    await waitUntil(async () => (holder = await c.leaseHolder(s.id)) !== null, 'a lease holder');
    const elsewhere = [0, 1, 2].find((i) => i !== holder)!;
    const ok = await c.apiOn('bob', elsewhere).post(`/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/approve`, {});
    expect(ok.status, JSON.stringify(ok.body)).toBe(200);
    expect(await eu.next((f) => f.type === 'extend.offer', 10_000)).toMatchObject({ extension_id: pending.extension_id, minutes: 10 });
    // Decided once: a second approval anywhere finds nothing waiting.
    const again = await c.apiOn('bob', holder!).post(`/api/v1/sessions/${s.id}/extensions/${pending.extension_id}/approve`, {});
    expect(again.status).toBe(409);
  }, 60_000);

  it('join-code guessing spread over the instances is limited as one (per source)', async () => {
    const guesser = '198.51.100.7';
    const statuses: number[] = [];
    for (let i = 0; i < 13; i++) {
      const api = new ApiClient(c.instances[i % 3]!.url, new DeviceKey());
      const r = await api.call('POST', '/api/v1/join', { code: 'ZZZZZ-ZZZZZ' }, { headers: { 'x-forwarded-for': guesser } });
      statuses.push(r.status);
    }
    // join_failures_per_source is 10 in a window: the 11th guess is refused whichever instance gets it.
    expect(statuses.slice(0, 10).every((s) => s !== 429)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429, 429]);
    // Another source is not held back by the first one's guesses.
    const other = await new ApiClient(c.instances[0]!.url, new DeviceKey()).call('POST', '/api/v1/join', { code: 'ZZZZZ-ZZZZZ' }, { headers: { 'x-forwarded-for': '198.51.100.8' } });
    expect(other.status).not.toBe(429);
  }, 60_000);

  it('a DPoP proof used on one instance is refused on another', async () => {
    const alice = c.user('alice');
    const url0 = `${c.instances[0]!.url}/api/v1/me`;
    const proof = await alice.api.device.httpProof('GET', url0, alice.api.accessToken!);
    const first = await c.apiOn('alice', 0).call('GET', '/api/v1/me', undefined, { proof: false, headers: { dpop: proof } });
    expect(first.status).toBe(200);
    // The proof names the path, not the host (a balancer may rewrite it): the other instance takes its htu.
    const replay = await c.apiOn('alice', 1).call('GET', '/api/v1/me', undefined, { proof: false, headers: { dpop: proof } });
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('proof_replayed');
  }, 30_000);

  it('sign-in failures spread over the instances lock the account as one', async () => {
    const carol = c.user('carol');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await new ApiClient(c.instances[i % 3]!.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'carol', password: 'not her password', totp: '000000' });
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses[5]).toBe(429);
    const right = await new ApiClient(c.instances[2]!.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'carol', password: carol.password, totp: freshTotp(carol.totpSecret) });
    expect(right.status).toBe(429);
  }, 30_000);

  it('a TOTP code used on one instance is refused on another; a refresh token used twice kills its family everywhere', async () => {
    const dave = c.user('dave');
    const totp = await usableTotp(dave.totpSecret);
    const a = await new ApiClient(c.instances[0]!.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'dave', password: dave.password, totp });
    expect(a.status).toBe(200);
    const b = await new ApiClient(c.instances[1]!.url, new DeviceKey()).post('/api/v1/auth/login', { username: 'dave', password: dave.password, totp });
    expect(b.status).toBe(401);

    const device = new DeviceKey();
    const login = await new ApiClient(c.instances[0]!.url, device).post('/api/v1/auth/login', { username: 'dave', password: dave.password, totp: await usableTotp(dave.totpSecret) });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    const old = login.body.refresh_token as string;
    const r1 = await new ApiClient(c.instances[1]!.url, device).post('/api/v1/auth/refresh', { refresh_token: old });
    expect(r1.status, JSON.stringify(r1.body)).toBe(200);
    const reuse = await new ApiClient(c.instances[2]!.url, device).post('/api/v1/auth/refresh', { refresh_token: old });
    expect(reuse.status).toBe(401);
    // The newer token of the same family is dead too, on the instance that issued it.
    const newer = await new ApiClient(c.instances[1]!.url, device).post('/api/v1/auth/refresh', { refresh_token: r1.body.refresh_token });
    expect(newer.status).toBe(401);
  }, 60_000);
});
