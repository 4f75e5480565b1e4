// `npm run bench -- cluster [--quick]`: three brokers on one PostgreSQL and one Redis behind HAProxy
// (kit/cluster.ts), measured against themselves in the same run: relay latency with both sides on
// one instance and on two, the kill switch across instances, lifecycles and broker CPU per
// lifecycle in the cluster and on one lone broker on PostgreSQL, and what losing an instance costs.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type WebSocket from 'ws';
import { TestCluster, haveTool, type Instance } from '../kit/cluster.js';
import type { TestUser } from '../kit/broker.js';
import type { DeviceKey } from '../kit/device.js';
import { BenchApi } from './lib/api.js';
import { driveToActive, fullLifecycle, type Active } from './lib/lifecycle.js';
import { closedAt, connectSignaling } from './lib/signaling.js';
import { round, sleep, summarize, withTimeout } from './lib/stats.js';
import { RESULTS } from './broker/options.js';

interface Pair {
  a: Active;
  an: WebSocket;
  eu: WebSocket;
}

const shape = (quick: boolean) =>
  quick
    ? { pairs: 8, rounds: 2, roundS: 1, rate: 200, kills: 15, lifecycleS: 10, warmupS: 2, idleS: 3, concurrency: 8, lossSessions: 9, analysts: 4 }
    : { pairs: 30, rounds: 6, roundS: 2, rate: 400, kills: 60, lifecycleS: 17, warmupS: 3, idleS: 5, concurrency: 16, lossSessions: 30, analysts: 8 };

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
const brokersCpu = (insts: Instance[]) => insts.reduce((s, i) => s + (i.proc?.pid ? cpuSeconds(i.proc.pid) : 0), 0);

const apiOf = (url: string, u: TestUser) => new BenchApi(url, u.api.device, u.api.accessToken);

async function pairOn(c: TestCluster, analyst: TestUser, anAt: string, euAt: string): Promise<Pair> {
  const a = await driveToActive(apiOf(c.url, analyst));
  const eu = await connectSignaling(euAt, a.endUserToken, a.endUser);
  const an = await connectSignaling(anAt, a.analystToken, analyst.api.device as DeviceKey);
  return { a, an, eu };
}

/** One-way latency of signals between the two sides of each pair, open loop at `rate` per second. */
async function relayRound(pairs: Pair[], bytes: number, seconds: number, rate: number): Promise<number[]> {
  const sent = new Map<string, number>();
  const lat: number[] = [];
  const onMsg = (d: Buffer) => {
    const t = performance.now();
    const s = d.toString('utf8');
    const m = /"sdp":"(m\d+)x/.exec(s);
    if (!m) return;
    const t0 = sent.get(m[1]!);
    if (t0 !== undefined) lat.push(t - t0);
  };
  for (const p of pairs) {
    p.an.on('message', onMsg);
    p.eu.on('message', onMsg);
  }
  const pad = 'x'.repeat(Math.max(0, bytes - 60));
  const total = Math.round(seconds * rate);
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const p = pairs[i % pairs.length]!;
    const from = i % 2 === 0 ? p.an : p.eu;
    const id = `m${i}`;
    sent.set(id, performance.now());
    from.send(`{"type":"signal","payload":{"kind":"${i % 2 === 0 ? 'offer' : 'answer'}","sdp":"${id}x${pad}"}}`);
  }
  await sleep(500);
  for (const p of pairs) {
    p.an.off('message', onMsg);
    p.eu.off('message', onMsg);
  }
  return lat;
}

/** Lifecycles through the balancer, started until `seconds` have passed; resolves once all have finished. */
async function runLifecycles(apis: BenchApi[], seconds: number, concurrency: number) {
  let next = 0;
  let done = 0;
  let errors = 0;
  const firstErrors: string[] = [];
  const stopAt = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < stopAt) {
      try {
        await withTimeout(fullLifecycle(apis[next++ % apis.length]!), 30_000, 'lifecycle');
        done++;
      } catch (e) {
        errors++;
        if (firstErrors.length < 3) firstErrors.push((e as Error).message.slice(0, 200));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { done, errors, firstErrors };
}

/**
 * Broker CPU per lifecycle through the balancer: `warmupS` of lifecycles first (not counted),
 * then the brokers idle for `idleS` (health checks, the beat, the lease scan: a cost per
 * instance and second, not per lifecycle; docs/operations.md "Sizing" adds it apart), then every
 * lifecycle started within `windowS`, with the CPU until the last of them has finished: all of it
 * (`raw`), and less the idle rate over that time.
 */
async function lifecyclesFor(c: TestCluster, analysts: TestUser[], windowS: number, warmupS: number, idleS: number, concurrency: number) {
  const apis = analysts.map((u) => apiOf(c.url, u));
  const warm = await runLifecycles(apis, warmupS, concurrency);
  // The last sockets close up to 2 s after their session ended (the teardown report's linger).
  await sleep(2500);
  const idle0 = brokersCpu(c.instances);
  const i0 = performance.now();
  await sleep(idleS * 1000);
  const idleMsPerS = ((brokersCpu(c.instances) - idle0) * 1000) / ((performance.now() - i0) / 1000);
  const cpu0 = brokersCpu(c.instances);
  const t0 = performance.now();
  const run = await runLifecycles(apis, windowS, concurrency);
  const tookS = (performance.now() - t0) / 1000;
  const cpuMs = (brokersCpu(c.instances) - cpu0) * 1000;
  const per = (ms: number) => round(ms / Math.max(1, run.done), 2);
  return {
    per_s: round(run.done / tookS, 1),
    cpu_ms_per_lifecycle: per(cpuMs - idleMsPerS * tookS),
    cpu_ms_per_lifecycle_raw: per(cpuMs),
    idle_cpu_ms_per_s: round(idleMsPerS, 1),
    counted: run.done,
    errors: warm.errors + run.errors,
    first_errors: [...warm.firstErrors, ...run.firstErrors].slice(0, 3),
  };
}

/** When the socket receives session.ended. */
function endedAt(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => {
    const on = (d: Buffer) => {
      if (!d.toString('utf8').includes('"session.ended"')) return;
      ws.off('message', on);
      resolve(performance.now());
    };
    ws.on('message', on);
  });
}

const beatAll = (wss: WebSocket[]) =>
  setInterval(() => {
    for (const w of wss) if (w.readyState === w.OPEN) w.send('{"type":"heartbeat"}');
  }, 3000);

export async function runClusterBench(o: { quick: boolean }): Promise<number> {
  const missing = ['haproxy', 'redis-server'].filter((t) => !haveTool(t));
  if (missing.length) {
    process.stderr.write(`cluster bench: missing ${missing.join(', ')} (.ci/run installs them)\n`);
    return 1;
  }
  const sh = shape(o.quick);
  const users = [{ username: 'benchadmin', roles: ['admin' as const] }, ...Array.from({ length: sh.analysts }, (_, i) => ({ username: `analyst${i}`, roles: ['analyst' as const] }))];
  const result: Record<string, unknown> = { quick: o.quick, instances: 3 };
  // One load generator is one source: its redemptions in flight would count against the per-source
  // wrong-code limit before each is given back (as bench/servers/broker.ts raises it too).
  const file = { rate_limits: { join_failures_per_source: 10_000, join_failures_global: 1_000_000 } };
  process.stdout.write('cluster bench: starting a lone broker on PostgreSQL (the comparison)\n');
  const lone = await TestCluster.start({ instances: 1, cluster: false, users, file });
  try {
    const l = await lifecyclesFor(lone, users.slice(1).map((u) => lone.user(u.username)), sh.lifecycleS, sh.warmupS, sh.idleS, sh.concurrency);
    result.lifecycles_per_s_single_postgres = l.per_s;
    result.broker_cpu_ms_per_lifecycle_single_postgres = l.cpu_ms_per_lifecycle;
    result.broker_cpu_ms_per_lifecycle_raw_single_postgres = l.cpu_ms_per_lifecycle_raw;
    result.broker_idle_cpu_ms_per_s_single_postgres = l.idle_cpu_ms_per_s;
    result.lifecycle_errors_single_postgres = l.errors;
    process.stdout.write(`  one broker on PostgreSQL: ${l.per_s} lifecycles/s, ${l.cpu_ms_per_lifecycle} ms broker CPU each (${l.cpu_ms_per_lifecycle_raw} with its idle share; idle ${l.idle_cpu_ms_per_s} ms/s; ${l.errors} errors ${l.first_errors.join(' | ')})\n`);
  } finally {
    await lone.stop();
  }

  process.stdout.write('cluster bench: starting three instances behind HAProxy\n');
  const c = await TestCluster.start({ instances: 3, users, file });
  const redis = new Redis(c.redisUrl);
  try {
    const analysts = users.slice(1).map((u) => c.user(u.username));
    const [i0, i1, i2] = c.instances as [Instance, Instance, Instance];

    // Relay: the same sessions' shape, both sides on instance 0, or one on 0 and one on 1.
    const same: Pair[] = [];
    const cross: Pair[] = [];
    for (let i = 0; i < sh.pairs; i++) {
      same.push(await pairOn(c, analysts[i % analysts.length]!, i0.url, i0.url));
      cross.push(await pairOn(c, analysts[i % analysts.length]!, i0.url, i1.url));
    }
    const beat = beatAll([...same, ...cross].flatMap((p) => [p.an, p.eu]));
    const lat: Record<string, number[]> = { same_64: [], same_4096: [], cross_64: [], cross_4096: [] };
    await relayRound(same, 64, 0.5, sh.rate);
    await relayRound(cross, 64, 0.5, sh.rate);
    for (let r = 0; r < sh.rounds; r++) {
      for (const [name, pairs] of (r % 2 === 0 ? [['same', same], ['cross', cross]] : [['cross', cross], ['same', same]]) as [string, Pair[]][]) {
        for (const bytes of [64, 4096]) lat[`${name}_${bytes}`]!.push(...(await relayRound(pairs, bytes, sh.roundS, sh.rate)));
      }
    }
    clearInterval(beat);
    for (const [k, v] of Object.entries(lat)) {
      const s = summarize(v);
      const [where, bytes] = k.split('_');
      const suffix = `${where === 'same' ? 'same_instance' : 'cross_instance'}${bytes === '4096' ? '_4k' : ''}`;
      result[`relay_p50_ms_${suffix}`] = round(s.p50, 3);
      result[`relay_p99_ms_${suffix}`] = round(s.p99, 3);
      result[`relay_messages_${suffix}`] = s.n;
    }
    process.stdout.write(`  relay p50/p99 ms: same ${result.relay_p50_ms_same_instance}/${result.relay_p99_ms_same_instance}, cross ${result.relay_p50_ms_cross_instance}/${result.relay_p99_ms_cross_instance} (64 B); same ${result.relay_p50_ms_same_instance_4k}/${result.relay_p99_ms_same_instance_4k}, cross ${result.relay_p50_ms_cross_instance_4k}/${result.relay_p99_ms_cross_instance_4k} (4 KiB)\n`);
    for (const p of [...same, ...cross]) p.an.send('{"type":"end"}');
    await sleep(1000);

    // Kill switch: sockets on instances 0 and 1, the kill posted to instance 2.
    const admin = apiOf(i2.url, c.user('benchadmin'));
    const kills: number[] = [];
    for (let k = 0; k < sh.kills; k++) {
      const p = await pairOn(c, analysts[k % analysts.length]!, i0.url, i1.url);
      const t0 = performance.now();
      // Until both sides heard the end (the end user's socket then stays open up to 2 s for its
      // teardown report, by design; the analyst's closes at once).
      const told = Promise.all([endedAt(p.an), endedAt(p.eu), closedAt(p.an, () => performance.now())]);
      const r = await admin.post(`/api/v1/sessions/${p.a.id}/kill`, {});
      if (r.status !== 200) throw new Error(`kill: ${r.status}`);
      const [x, y] = await withTimeout(told, 10_000, 'both sides to hear the end');
      kills.push(Math.max(x, y) - t0);
      p.eu.terminate();
    }
    const ks = summarize(kills);
    result.kill_switch_p50_ms_cross_instance = round(ks.p50, 2);
    result.kill_switch_p99_ms_cross_instance = round(ks.p99, 2);
    process.stdout.write(`  kill switch across instances: p50 ${result.kill_switch_p50_ms_cross_instance} ms, p99 ${result.kill_switch_p99_ms_cross_instance} ms (${ks.n} kills)\n`);

    // Lifecycles through the balancer, CPU of the three brokers together.
    // Each instance serves a third of the lifecycles: warmed up three times as long, so that each
    // has run as many as the lone broker before the window opens (V8 compiles per process).
    const l = await lifecyclesFor(c, analysts, sh.lifecycleS, sh.warmupS * c.instances.length, sh.idleS, sh.concurrency);
    result.lifecycles_per_s_cluster = l.per_s;
    result.broker_cpu_ms_per_lifecycle_cluster = l.cpu_ms_per_lifecycle;
    result.broker_cpu_ms_per_lifecycle_raw_cluster = l.cpu_ms_per_lifecycle_raw;
    result.broker_idle_cpu_ms_per_s_cluster = l.idle_cpu_ms_per_s;
    result.lifecycle_errors_cluster = l.errors;
    result.broker_cpu_cluster_vs_single_postgres = round(l.cpu_ms_per_lifecycle / (result.broker_cpu_ms_per_lifecycle_single_postgres as number), 3);
    result.broker_cpu_raw_cluster_vs_single_postgres = round(l.cpu_ms_per_lifecycle_raw / (result.broker_cpu_ms_per_lifecycle_raw_single_postgres as number), 3);
    process.stdout.write(`  cluster: ${l.per_s} lifecycles/s, ${l.cpu_ms_per_lifecycle} ms broker CPU each (all three instances; ${l.cpu_ms_per_lifecycle_raw} with their idle share; idle ${l.idle_cpu_ms_per_s} ms/s; ${l.errors} errors ${l.first_errors.join(' | ')})\n`);

    // Losing an instance: live sessions through the balancer, instance 0 killed with SIGKILL.
    const live: { a: Active; an: WebSocket; eu: WebSocket; analyst: TestUser }[] = [];
    for (let i = 0; i < sh.lossSessions; i++) {
      const analyst = analysts[i % analysts.length]!;
      const a = await driveToActive(apiOf(c.url, analyst));
      live.push({ a, analyst, eu: await connectSignaling(c.url, a.endUserToken, a.endUser), an: await connectSignaling(c.url, a.analystToken, analyst.api.device as DeviceKey) });
    }
    const sockets = live.flatMap((s) => [s.an, s.eu]);
    const beat2 = beatAll(sockets);
    const owners = new Map<string, string | null>();
    for (const s of live) owners.set(s.a.id, await redis.get(`${c.prefix}lease:${s.a.id}`));
    const victimId = i0.id;
    const dropped: Promise<number>[] = [];
    const tKill = performance.now();
    const reconnectOne = (s: (typeof live)[number], side: 'an' | 'eu') =>
      new Promise<number>((resolve) => {
        s[side].once('close', async () => {
          const end = performance.now() + 20_000;
          while (performance.now() < end) {
            try {
              const ws = side === 'an' ? await connectSignaling(c.url, s.a.analystToken, s.analyst.api.device as DeviceKey) : await connectSignaling(c.url, s.a.endUserToken, s.a.endUser);
              s[side] = ws;
              sockets.push(ws);
              return resolve(performance.now() - tKill);
            } catch {
              await sleep(100);
            }
          }
          resolve(Number.POSITIVE_INFINITY);
        });
      });
    for (const s of live) for (const side of ['an', 'eu'] as const) dropped.push(reconnectOne(s, side));
    await c.kill(0);
    // Takeover: the leases the victim held, until another instance holds each.
    const victimLeases = [...owners].filter(([, o]) => o === victimId).map(([sid]) => sid);
    const takeover = new Map<string, number>();
    const until = performance.now() + 15_000;
    while (takeover.size < victimLeases.length && performance.now() < until) {
      for (const sid of victimLeases) {
        if (takeover.has(sid)) continue;
        const o = await redis.get(`${c.prefix}lease:${sid}`);
        if (o && o !== victimId) takeover.set(sid, performance.now() - tKill);
      }
      await sleep(50);
    }
    await sleep(6000);
    // Only the sockets the victim held drop; the others never resolve, so count those that closed.
    const settled = await Promise.all(dropped.map((p) => Promise.race([p, sleep(100).then(() => -1)])));
    const reconnects = settled.filter((x) => x >= 0);
    let active = 0;
    const viewer = apiOf(c.url, c.user('benchadmin'));
    for (const s of live) if ((await viewer.get(`/api/v1/sessions/${s.a.id}`)).body?.state === 'active') active++;
    clearInterval(beat2);
    result.instance_loss_sessions = live.length;
    result.instance_loss_sessions_survived = round(active / live.length, 3);
    result.instance_loss_sockets_dropped = reconnects.length;
    result.instance_loss_reconnect_p99_ms = reconnects.length ? round(summarize(reconnects).p99, 1) : null;
    result.instance_loss_grace_period_ms = 15_000;
    result.timer_leases_taken_over = takeover.size;
    result.timer_leases_of_the_killed_instance = victimLeases.length;
    result.timer_takeover_max_ms = takeover.size ? round(Math.max(...takeover.values()), 1) : null;
    process.stdout.write(
      `  instance loss: ${active}/${live.length} sessions still active, ${reconnects.length} sockets reconnected (p99 ${result.instance_loss_reconnect_p99_ms} ms), ${takeover.size}/${victimLeases.length} leases taken over (max ${result.timer_takeover_max_ms} ms)\n`,
    );
    for (const s of live) if (s.an.readyState === s.an.OPEN) s.an.send('{"type":"end"}');
    await sleep(500);
    for (const w of sockets) w.terminate();
  } finally {
    redis.disconnect();
    await c.stop();
  }
  result.goals = {
    // Both message sizes the issue names (64 B and 4 KiB) must meet each goal.
    cross_instance_relay_adds_at_most_2ms_at_p50: ['', '_4k'].every((k) => (result[`relay_p50_ms_cross_instance${k}`] as number) - (result[`relay_p50_ms_same_instance${k}`] as number) <= 2),
    cross_instance_relay_p99_within_2x: ['', '_4k'].every((k) => (result[`relay_p99_ms_cross_instance${k}`] as number) <= 2 * (result[`relay_p99_ms_same_instance${k}`] as number)),
    kill_switch_p99_at_most_100ms: (result.kill_switch_p99_ms_cross_instance as number) <= 100,
    survived_all: result.instance_loss_sessions_survived === 1,
    reconnect_p99_within_grace: result.instance_loss_reconnect_p99_ms !== null && (result.instance_loss_reconnect_p99_ms as number) <= 15_000,
    takeover_at_most_5s: result.timer_takeover_max_ms === null || (result.timer_takeover_max_ms as number) <= 5000,
    cluster_cpu_at_most_25pct_more: (result.broker_cpu_cluster_vs_single_postgres as number) <= 1.25,
  };
  result.note =
    'Two cores run the three instances, PostgreSQL, Redis, HAProxy and the load generator: throughput cannot grow with instances here, so CPU per lifecycle (summed over the instances) is the sizing figure.';
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, 'cluster.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(`wrote bench/results/cluster.json\n${JSON.stringify(result.goals)}\n`);
  return 0;
}
