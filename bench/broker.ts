/**
 * Broker benchmark: signaling relay latency under load (against a plain `ws` relay and the PeerJS
 * server), the kill switch with live sessions, full lifecycles per second on SQLite and
 * PostgreSQL, and the audit log's append and verify rates. Every server under test runs in a
 * child process of its own; this process is the load generator. Writes bench/results/broker.json.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type WebSocket from 'ws';
import { rawRequest, type BenchApi } from './lib/api.js';
import { MachineLoad, REPO_ROOT, ResourceSampler, ServerChild } from './lib/child.js';
import { STEPS, accountApi, connectBoth, driveToActive, fullLifecycle, newStepTimes, type BenchAccount } from './lib/lifecycle.js';
import { Keepalive, RelayPool, attachReceiver, runPhase, type Pair, type PooledResult } from './lib/relay.js';
import { closedAt, nextFrame, openWs, releaseEarly } from './lib/signaling.js';
import { mapLimit, round, sleep, summarize, withTimeout, type Summary } from './lib/stats.js';

export interface BrokerBenchOptions {
  quick: boolean;
  /** Run only these sections (relay, kill, lifecycle, audit); all when empty. */
  only: Set<string>;
  /** Write V8 CPU profiles of the broker children to bench/results/prof/. */
  cpuProf: boolean;
  /** Count SQLite statements and audit events per lifecycle (a diagnosis run; adds a little overhead). */
  instrument?: boolean;
  /** Extra node flags for the broker children (diagnosis, e.g. --trace-gc). */
  brokerNodeArgs?: string[];
  /** Called once everything for the relay is connected, just before measuring starts. */
  beforeMeasuring?: () => Promise<void>;
}

/** This process's own CPU use over a phase (it is the load generator for every server). */
class SelfCpu {
  private readonly c0 = process.cpuUsage();
  private readonly t0 = performance.now();
  percent(): number {
    const d = process.cpuUsage(this.c0);
    return Math.round(((d.user + d.system) / 1000 / (performance.now() - this.t0)) * 100);
  }
}

const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RESULTS = path.join(REPO_ROOT, 'bench', 'results');
const PROF_DIR = path.join(RESULTS, 'prof');

function shape(quick: boolean) {
  return quick
    ? { sessions: 100, rate: 1000, warmupS: 0.5, rounds: 2, roundS: 1, kills: 20, lifecycleS: 4, lifecycleWarmupS: 1, concurrency: 32, analysts: 4, auditEvents: 20_000, setupConcurrency: 16 }
    : { sessions: 1000, rate: 2000, warmupS: 2, rounds: 10, roundS: 1, kills: 100, lifecycleS: 20, lifecycleWarmupS: 3, concurrency: 32, analysts: 8, auditEvents: 50_000, setupConcurrency: 16 };
}
type Shape = ReturnType<typeof shape>;

const HEARTBEAT_INTERVAL_MS = 5000;
const signalFrame = (dir: 0 | 1, sdp: string) => `{"type":"signal","payload":{"kind":"${dir === 0 ? 'offer' : 'answer'}","sdp":"${sdp}"}}`;

interface RelayResult {
  server: string;
  sockets: number;
  sessions: number;
  connect_s: number;
  keepalive: string;
  phase_64: PooledResult;
  phase_4k: PooledResult;
  /** The server process while it was being measured (its rounds only). */
  server_cpu_percent: number;
  peak_rss_mib: number;
  load_generator_cpu_percent: number;
}

/** A server under test with its connected pairs, and meters that run only during its own rounds. */
interface RelayTarget {
  server: string;
  child: ServerChild;
  pairs: Pair[];
  connectS: number;
  keepalive: string;
  pools: Record<number, RelayPool>;
  cpuS: number;
  wallS: number;
  selfCpuS: number;
  peakRss: number;
}

function target(server: string, child: ServerChild, pairs: Pair[], connectS: number, keepalive: string, rate: number): RelayTarget {
  return { server, child, pairs, connectS, keepalive, pools: { 64: new RelayPool(64, rate), 4096: new RelayPool(4096, rate) }, cpuS: 0, wallS: 0, selfCpuS: 0, peakRss: 0 };
}

interface Jitter {
  seconds: number;
  max_stall_ms: number;
  stalls_over_10ms: number;
  stalled_ms_over_10ms: number;
}

/** One measured round of one server and size, with the server's CPU and RSS sampled meanwhile. */
async function measureRound(t: RelayTarget, size: number, sh: Shape, round: number, probe: ServerChild | null): Promise<void> {
  if (probe) await probe.stats<Jitter>();
  const cpu0 = t.child.cpuSeconds();
  const self0 = process.cpuUsage();
  const w0 = performance.now();
  const rss = setInterval(() => (t.peakRss = Math.max(t.peakRss, t.child.rssMiB())), 200);
  const r = await runPhase(t.pairs, { rate: sh.rate, durationS: sh.roundS, size, label: `${t.server}-${size}-r${round}` });
  clearInterval(rss);
  t.peakRss = Math.max(t.peakRss, t.child.rssMiB());
  t.cpuS += t.child.cpuSeconds() - cpu0;
  const d = process.cpuUsage(self0);
  t.selfCpuS += (d.user + d.system) / 1e6;
  t.wallS += (performance.now() - w0) / 1000;
  t.pools[size]!.add(r, sh.roundS, probe ? await probe.stats<Jitter>() : undefined);
}

function relayResult(t: RelayTarget): RelayResult {
  return {
    server: t.server,
    sockets: t.pairs.length * 2,
    sessions: t.pairs.length,
    connect_s: round(t.connectS, 2),
    keepalive: t.keepalive,
    phase_64: t.pools[64]!.result(),
    phase_4k: t.pools[4096]!.result(),
    server_cpu_percent: Math.round((t.cpuS / t.wallS) * 100),
    peak_rss_mib: round(t.peakRss, 1),
    load_generator_cpu_percent: Math.round((t.selfCpuS / t.wallS) * 100),
  };
}

/**
 * All servers stay up with every socket connected; rounds alternate between them (in a rotating
 * order) so that the machine's own hiccups (a shared 2-core VM) fall on every server alike.
 */
async function measureRelays(targets: RelayTarget[], sh: Shape, probe: ServerChild | null): Promise<void> {
  const t0 = performance.now();
  for (const t of targets) if (sh.warmupS > 0) await runPhase(t.pairs, { rate: sh.rate, durationS: sh.warmupS, size: 64 });
  for (let r = 0; r < sh.rounds; r++) {
    for (const size of [64, 4096]) {
      for (let i = 0; i < targets.length; i++) {
        const t = targets[(i + r) % targets.length]!;
        await measureRound(t, size, sh, r, probe);
      }
    }
  }
  process.stdout.write(`  ${sh.rounds} rounds x 2 sizes x ${targets.length} servers measured in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  for (const t of targets) {
    const x = relayResult(t);
    process.stdout.write(
      `  ${pad(t.server, 10)} 64 B p50 ${x.phase_64.latency_ms.p50} p99 ${x.phase_64.latency_ms.p99} ms | 4 KiB p50 ${x.phase_4k.latency_ms.p50} p99 ${x.phase_4k.latency_ms.p99} ms | lost ${x.phase_64.lost + x.phase_4k.lost}, not sent (socket closed) ${x.phase_64.skipped_closed + x.phase_4k.skipped_closed} | CPU ${x.server_cpu_percent}% RSS ${x.peak_rss_mib} MiB\n`,
    );
  }
}

function closeAll(pairs: Pair[]): void {
  for (const p of pairs) {
    p.a.terminate();
    p.b.terminate();
  }
}

// ---------------------------------------------------------------- broker relay + kill switch

interface BrokerPair extends Pair {
  id: string;
  /** Set just before the kill switch closes it on purpose. */
  killing?: boolean;
}

/** Broker sockets that closed before the kill phase (there should be none). */
const unexpectedCloses: { session: string; role: string; code: number; reason: string; at_s: number; last_frames: string[] }[] = [];
let tearingDown = false;

interface KillResult {
  kills: number;
  live_sessions_at_start: number;
  sockets_at_start: number;
  closed_ms: Summary;
  session_ended_frame_ms: Summary;
  http_response_ms: Summary;
  close_codes: Record<string, number>;
}

/** Time from the kill POST leaving this process to the frame, and to both sockets closed. */
async function killSwitch(baseUrl: string, admin: BenchApi, pairs: BrokerPair[], kills: number): Promise<KillResult> {
  const closed: number[] = [];
  const ended: number[] = [];
  const http: number[] = [];
  const codes: Record<string, number> = {};
  const now = () => performance.now();
  for (let i = 0; i < kills; i++) {
    const p = pairs[i]!;
    p.killing = true;
    const url = `/api/v1/sessions/${p.id}/kill`;
    const headers = await admin.prepare('POST', url);
    const endedAt = (ws: WebSocket) =>
      new Promise<number>((resolve) => {
        const on = (d: Buffer) => {
          if (d.includes('"session.ended"')) {
            ws.off('message', on);
            resolve(now());
          }
        };
        ws.on('message', on);
      });
    const frames = Promise.all([endedAt(p.a), endedAt(p.b)]);
    const closes = Promise.all([closedAt(p.a, now), closedAt(p.b, now)]);
    const t0 = now();
    const res = rawRequest('POST', `${baseUrl}${url}`, headers, '{}').then((r) => {
      http.push(now() - t0);
      if (r.status !== 200) throw new Error(`kill: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    });
    const [c1, c2] = await withTimeout(closes, 15_000, 'kill: sockets closing');
    closed.push(Math.max(c1.at, c2.at) - t0);
    for (const c of [c1.code, c2.code]) codes[c] = (codes[c] ?? 0) + 1;
    const [f1, f2] = await withTimeout(frames, 1000, 'kill: session.ended frames');
    ended.push(Math.max(f1, f2) - t0);
    await res;
    await sleep(10);
  }
  return {
    kills,
    live_sessions_at_start: pairs.length,
    sockets_at_start: pairs.length * 2,
    closed_ms: summarize(closed),
    session_ended_frame_ms: summarize(ended),
    http_response_ms: summarize(http),
    close_codes: codes,
  };
}

async function startBrokerChild(name: string, o: BrokerBenchOptions, args: string[]): Promise<{ child: ServerChild; url: string; accounts: BenchAccount[] }> {
  const child = new ServerChild(name, 'bench/servers/broker.ts', args, { cpuProfDir: o.cpuProf ? PROF_DIR : undefined, nodeArgs: o.brokerNodeArgs });
  const ready = await child.waitFor<{ url: string; accounts: BenchAccount[] }>('ready');
  return { child, url: ready.url, accounts: ready.accounts };
}

/** Broker with N active sessions, both parties connected; the end users send heartbeats. */
async function brokerTarget(o: BrokerBenchOptions, sh: Shape, started: Promise<{ child: ServerChild; url: string; accounts: BenchAccount[] }>, keepalive: Keepalive) {
  const { child, url, accounts } = await started;
  const pairs: BrokerPair[] = [];
  const admin = accountApi(url, accounts.find((a) => a.roles.includes('admin'))!);
  const analysts = accounts.filter((a) => a.roles.includes('analyst')).map((a) => accountApi(url, a));
  // Sessions are driven to active over HTTP and both parties connect at once: the end user must
  // be heard from within the policy's heartbeat timeout (15 s) or the session ends as peer_lost.
  const t0 = performance.now();
  await mapLimit(
    Array.from({ length: sh.sessions }, (_, i) => i),
    sh.setupConcurrency,
    async (i) => {
      const analyst = analysts[i % analysts.length]!;
      const a = await driveToActive(analyst);
      const [an, eu] = await connectBoth(url, analyst, a);
      attachReceiver(an);
      attachReceiver(eu);
      keepalive.add(eu, '{"type":"heartbeat"}');
      const pair: BrokerPair = { id: a.id, a: an, b: eu, frame: signalFrame };
      // Nothing should close these before the kill phase; if something does, say what and when.
      for (const [role, ws] of [['analyst', an], ['end_user', eu]] as const) {
        const lastFrames: string[] = [];
        ws.on('message', (d: Buffer) => {
          if (d.length < 300) {
            lastFrames.push(d.toString('utf8'));
            if (lastFrames.length > 3) lastFrames.shift();
          }
        });
        ws.once('close', (code: number, reason: Buffer) => {
          if (pair.killing || tearingDown) return;
          unexpectedCloses.push({ session: a.id, role, code, reason: reason.toString(), at_s: round((performance.now() - t0) / 1000, 1), last_frames: [...lastFrames] });
        });
      }
      pairs.push(pair);
    },
  );
  const setupS = (performance.now() - t0) / 1000;
  process.stdout.write(`  chaperone: ${sh.sessions} sessions active and ${pairs.length * 2} sockets authenticated in ${setupS.toFixed(1)} s (${Math.round(sh.sessions / setupS)} sessions/s)\n`);
  return { t: target('chaperone', child, pairs, setupS, `end user heartbeat every ${HEARTBEAT_INTERVAL_MS / 1000} s`, sh.rate), pairs, url, admin };
}

// ---------------------------------------------------------------- baselines

async function plainWsTarget(sh: Shape, child: ServerChild): Promise<RelayTarget> {
  const { url } = await child.waitFor<{ url: string }>('ready');
  const pairs: Pair[] = [];
  const t0 = performance.now();
  await mapLimit(
    Array.from({ length: sh.sessions }, (_, i) => i),
    64,
    async (i) => {
      const [a, b] = await Promise.all([openWs(`${url}/?pair=s${i}`), openWs(`${url}/?pair=s${i}`)]);
      releaseEarly(a);
      releaseEarly(b);
      attachReceiver(a);
      attachReceiver(b);
      pairs.push({ a, b, frame: signalFrame });
    },
  );
  return target('plain_ws', child, pairs, (performance.now() - t0) / 1000, 'none', sh.rate);
}

async function peerJsTarget(sh: Shape, child: ServerChild, keepalive: Keepalive): Promise<RelayTarget> {
  const { url } = await child.waitFor<{ url: string }>('ready');
  const pairs: Pair[] = [];
  const open = async (id: string) => {
    const ws = await openWs(`${url}?key=peerjs&id=${id}&token=t${id}`);
    const first = await nextFrame(ws);
    if (first?.type !== 'OPEN') throw new Error(`peerjs: expected OPEN, got ${JSON.stringify(first)}`);
    releaseEarly(ws);
    return ws;
  };
  const t0 = performance.now();
  await mapLimit(
    Array.from({ length: sh.sessions }, (_, i) => i),
    64,
    async (i) => {
      const [a, b] = await Promise.all([open(`p${i}a`), open(`p${i}b`)]);
      attachReceiver(a);
      attachReceiver(b);
      keepalive.add(a, '{"type":"HEARTBEAT"}');
      keepalive.add(b, '{"type":"HEARTBEAT"}');
      const toB = `{"type":"OFFER","dst":"p${i}b","payload":{"kind":"offer","sdp":"`;
      const toA = `{"type":"ANSWER","dst":"p${i}a","payload":{"kind":"answer","sdp":"`;
      pairs.push({ a, b, frame: (dir, sdp) => `${dir === 0 ? toB : toA}${sdp}"}}` });
    },
  );
  return target('peerjs', child, pairs, (performance.now() - t0) / 1000, `HEARTBEAT from every socket every ${HEARTBEAT_INTERVAL_MS / 1000} s (as the PeerJS client)`, sh.rate);
}

/**
 * The relay comparison and the kill switch. All three servers start together, each in its own
 * process; every socket stays connected throughout; the kill switch runs last, on the broker with
 * all its sessions live.
 */
async function relayAndKill(o: BrokerBenchOptions, sh: Shape): Promise<{ relay: Record<string, RelayResult>; kill?: KillResult }> {
  const doRelay = want(o, 'relay');
  const brokerChild = startBrokerChild('broker-relay', o, ['--analysts', String(sh.analysts)]);
  const plainChild = doRelay ? new ServerChild('plain-ws', 'bench/servers/plain-ws.ts') : null;
  const peerChild = doRelay ? new ServerChild('peerjs', 'bench/servers/peerjs.ts') : null;
  const probe = doRelay ? new ServerChild('jitter', 'bench/servers/jitter.ts') : null;
  const keepalive = new Keepalive(HEARTBEAT_INTERVAL_MS);
  keepalive.start();
  const targets: RelayTarget[] = [];
  try {
    if (probe) await probe.waitFor('ready');
    const broker = await brokerTarget(o, sh, brokerChild, keepalive);
    targets.push(broker.t);
    if (plainChild) targets.push(await plainWsTarget(sh, plainChild));
    if (peerChild) targets.push(await peerJsTarget(sh, peerChild, keepalive));
    if (doRelay) process.stdout.write(`  baselines connected: plain ws ${round(targets[1]?.connectS ?? NaN, 1)} s, PeerJS ${round(targets[2]?.connectS ?? NaN, 1)} s\n`);
    const out: { relay: Record<string, RelayResult>; kill?: KillResult } = { relay: {} };
    if (doRelay) {
      await o.beforeMeasuring?.();
      await measureRelays(targets, sh, probe);
      for (const t of targets) out.relay[t.server] = relayResult(t);
    }
    if (want(o, 'kill')) {
      // The baselines are done: stop them so the kill switch has the machine to itself.
      for (const t of targets.slice(1)) {
        closeAll(t.pairs);
        await t.child.stop();
      }
      const alive = broker.pairs.filter((p) => p.a.readyState === p.a.OPEN && p.b.readyState === p.b.OPEN);
      if (alive.length !== broker.pairs.length) process.stdout.write(`  WARNING: ${broker.pairs.length - alive.length} sessions lost a socket before the kill phase (see unexpected_closes)\n`);
      out.kill = await killSwitch(broker.url, broker.admin, alive, sh.kills);
      process.stdout.write(`  kill switch: both sockets closed p50 ${out.kill.closed_ms.p50} ms, p99 ${out.kill.closed_ms.p99} ms (${sh.kills} kills, ${alive.length} live sessions)\n`);
    }
    return out;
  } finally {
    tearingDown = true;
    keepalive.stop();
    for (const t of targets) closeAll(t.pairs);
    await Promise.all([brokerChild.then((b) => b.child.stop()).catch(() => undefined), plainChild?.stop(), peerChild?.stop(), probe?.stop()]);
  }
}

// ---------------------------------------------------------------- lifecycles

interface LifecycleResult {
  engine: string;
  lifecycles_per_s: number;
  concurrency: number;
  measured_s: number;
  completed_in_window: number;
  completed_total: number;
  errors: number;
  first_errors: string[];
  server_cpu_percent: number;
  /** Broker CPU time per completed lifecycle: what a core buys, whatever else the machine runs. */
  server_cpu_ms_per_lifecycle: number;
  server_peak_rss_mib: number;
  load_generator_cpu_percent: number;
  load_generator_cpu_ms_per_lifecycle: number;
  step_ms: Record<string, Summary>;
  includes: string;
  per_lifecycle?: { statements: number; audit_events: number; top_statements: Record<string, number> };
}

interface LifecycleBroker {
  engine: 'sqlite' | 'postgres';
  schema: string | undefined;
  child: ServerChild;
  started: Promise<{ child: ServerChild; url: string; accounts: BenchAccount[] }>;
}

/** Starts a broker for the lifecycle runs (early, so its start-up is not on the clock). */
function startLifecycleBroker(o: BrokerBenchOptions, sh: Shape, engine: 'sqlite' | 'postgres'): LifecycleBroker {
  const schema = engine === 'postgres' ? `bench_${crypto.randomBytes(6).toString('hex')}` : undefined;
  const args = ['--analysts', String(sh.analysts), '--engine', engine];
  if (o.instrument) args.push('--instrument');
  if (schema) args.push('--database-url', PG_URL, '--pg-schema', schema);
  const child = new ServerChild(`broker-lifecycle-${engine}`, 'bench/servers/broker.ts', args, { cpuProfDir: o.cpuProf ? PROF_DIR : undefined, nodeArgs: o.brokerNodeArgs });
  const started = child.waitFor<{ url: string; accounts: BenchAccount[] }>('ready').then((r) => ({ child, url: r.url, accounts: r.accounts }));
  started.catch(() => undefined);
  return { engine, schema, child, started };
}

async function stopLifecycleBroker(lb: LifecycleBroker): Promise<void> {
  await lb.child.stop();
  if (lb.schema) {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${lb.schema} CASCADE`);
    await c.end();
  }
}

async function lifecycles(o: BrokerBenchOptions, sh: Shape, lb: LifecycleBroker): Promise<LifecycleResult> {
  const engine = lb.engine;
  let child: ServerChild | null = null;
  try {
    const started = await lb.started;
    child = started.child;
    const analysts = started.accounts.filter((a) => a.roles.includes('analyst')).map((a) => accountApi(started.url, a));
    const times = newStepTimes();
    const completions: number[] = [];
    const errs: string[] = [];
    let errors = 0;
    let next = 0;
    const t0 = performance.now();
    const warmEnd = t0 + sh.lifecycleWarmupS * 1000;
    const stopAt = t0 + sh.lifecycleS * 1000;
    const sampler = new ResourceSampler(child);
    let samplerStarted = false;
    let self: SelfCpu | null = null;
    type Stats = { statements: number; by_statement: Record<string, number>; audit_appended: number };
    let before: Promise<Stats> | null = null;
    let atWindowStart = 0;
    const c = child;
    const startSampler = setTimeout(() => {
      sampler.start();
      self = new SelfCpu();
      samplerStarted = true;
      if (o.instrument) {
        atWindowStart = completions.length;
        before = c.stats<Stats>();
      }
    }, sh.lifecycleWarmupS * 1000);
    const worker = async () => {
      while (performance.now() < stopAt) {
        const analyst = analysts[next++ % analysts.length]!;
        const started = performance.now();
        try {
          await withTimeout(fullLifecycle(analyst, started >= warmEnd ? times : undefined), 30_000, 'lifecycle');
          completions.push(performance.now());
        } catch (e) {
          errors++;
          if (errs.length < 5) errs.push((e as Error).message.slice(0, 300));
        }
      }
    };
    let after: Promise<Stats> | null = null;
    let atWindowEnd = 0;
    const endStats = setTimeout(() => {
      if (o.instrument) {
        atWindowEnd = completions.length;
        after = c.stats<Stats>();
      }
    }, sh.lifecycleS * 1000);
    await Promise.all(Array.from({ length: sh.concurrency }, worker));
    clearTimeout(startSampler);
    clearTimeout(endStats);
    const res = samplerStarted ? sampler.stop() : { cpu_percent: NaN, peak_rss_mib: NaN };
    const selfCpu = (self as SelfCpu | null)?.percent() ?? NaN;
    let perLifecycle: LifecycleResult['per_lifecycle'];
    if (before && after) {
      const [b0, b1] = await Promise.all([before as Promise<Stats>, after as Promise<Stats>]);
      const n = Math.max(1, atWindowEnd - atWindowStart);
      const top = Object.entries(b1.by_statement)
        .map(([k, v]) => [k, (v - (b0.by_statement[k] ?? 0)) / n] as const)
        .filter(([, v]) => v > 0)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 40);
      perLifecycle = { statements: round((b1.statements - b0.statements) / n, 1), audit_events: round((b1.audit_appended - b0.audit_appended) / n, 1), top_statements: Object.fromEntries(top.map(([k, v]) => [k, round(v, 2)])) };
    }
    const window = (stopAt - warmEnd) / 1000;
    const inWindow = completions.filter((t) => t >= warmEnd && t <= stopAt).length;
    const r: LifecycleResult = {
      engine,
      lifecycles_per_s: round(inWindow / window, 1),
      concurrency: sh.concurrency,
      measured_s: round(window, 2),
      completed_in_window: inWindow,
      completed_total: completions.length,
      errors,
      first_errors: errs,
      server_cpu_percent: res.cpu_percent,
      server_cpu_ms_per_lifecycle: round((res.cpu_percent / 100) * window * 1000 / Math.max(1, inWindow), 2),
      server_peak_rss_mib: res.peak_rss_mib,
      load_generator_cpu_percent: selfCpu,
      load_generator_cpu_ms_per_lifecycle: round((selfCpu / 100) * window * 1000 / Math.max(1, inWindow), 2),
      step_ms: Object.fromEntries(STEPS.map((s) => [s, summarize(times[s])])),
      includes: 'request, join code, redeem, signed consent, analyst token, both parties connect to signaling (challenge + proof), analyst ends over signaling, both sockets closed',
      ...(perLifecycle ? { per_lifecycle: perLifecycle } : {}),
    };
    process.stdout.write(`  lifecycles on ${engine}: ${r.lifecycles_per_s}/s (${inWindow} in ${round(window, 1)} s, ${errors} errors, broker CPU ${r.server_cpu_percent}% = ${r.server_cpu_ms_per_lifecycle} ms per lifecycle, load generator CPU ${r.load_generator_cpu_percent}% = ${r.load_generator_cpu_ms_per_lifecycle} ms)\n`);
    return r;
  } finally {
    await stopLifecycleBroker(lb);
  }
}

async function postgresReachable(): Promise<string | null> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- audit

interface AuditResult {
  events: number;
  append_ms: number;
  append_per_s: number;
  verify: { available: boolean; ms?: number; events?: number; per_s?: number; ok?: unknown; result?: string };
}

async function audit(sh: Shape): Promise<AuditResult> {
  const verifyModule = path.join(REPO_ROOT, 'broker', 'audit', 'verify.ts');
  const child = new ServerChild('audit', 'bench/servers/audit.ts', ['--events', String(sh.auditEvents), '--verify-module', verifyModule]);
  try {
    const r = await child.waitFor<AuditResult>('result', 300_000);
    process.stdout.write(
      `  audit: append ${Math.round(r.append_per_s)}/s over ${r.events} events; verify ${r.verify.available ? `${Math.round(r.verify.per_s ?? 0)}/s (ok=${String(r.verify.ok)})` : 'not available (broker/audit/verify.ts missing)'}\n`,
    );
    return r;
  } finally {
    await child.stop();
  }
}

// ---------------------------------------------------------------- report

function want(o: BrokerBenchOptions, section: string): boolean {
  return o.only.size === 0 || o.only.has(section);
}

const num = (x: number | null | undefined): number | null => (x === undefined || x === null || Number.isNaN(x) ? null : round(x, 3));

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function printTable(r: Record<string, unknown>): void {
  const fmt = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'number' ? String(v) : String(v));
  const rows: [string, unknown, string][] = [
    ['relay p50 64 B (ms): chaperone / plain ws / peerjs', `${fmt(r.relay_p50_ms)} / ${fmt(r.relay_p50_ms_plain_ws)} / ${fmt(r.relay_p50_ms_peerjs)}`, ''],
    ['relay p99 64 B (ms): chaperone / plain ws / peerjs', `${fmt(r.relay_p99_ms)} / ${fmt(r.relay_p99_ms_plain_ws)} / ${fmt(r.relay_p99_ms_peerjs)}`, ''],
    ['relay p50 4 KiB (ms): chaperone / plain ws / peerjs', `${fmt(r.relay_p50_ms_4k)} / ${fmt(r.relay_p50_ms_plain_ws_4k)} / ${fmt(r.relay_p50_ms_peerjs_4k)}`, ''],
    ['relay p99 4 KiB (ms): chaperone / plain ws / peerjs', `${fmt(r.relay_p99_ms_4k)} / ${fmt(r.relay_p99_ms_plain_ws_4k)} / ${fmt(r.relay_p99_ms_peerjs_4k)}`, ''],
    ['relay p99 ratio chaperone / plain ws (64 B, 4 KiB)', `${fmt(r.relay_p99_ratio_plain_ws)}, ${fmt(r.relay_p99_ratio_plain_ws_4k)}`, '<= 2'],
    ['broker RSS under load (MiB)', r.broker_rss_mib, ''],
    ['kill switch p50 / p99 (ms, both sockets closed)', `${fmt(r.kill_switch_p50_ms)} / ${fmt(r.kill_switch_p99_ms)}`, ''],
    ['lifecycles/s SQLite', r.lifecycles_per_s_sqlite, '>= 300'],
    ['lifecycles/s PostgreSQL', r.lifecycles_per_s_postgres, ''],
    ['broker CPU ms per lifecycle: SQLite / PostgreSQL', `${fmt(r.broker_cpu_ms_per_lifecycle_sqlite)} / ${fmt(r.broker_cpu_ms_per_lifecycle_postgres)}`, ''],
    ['audit appends/s (SQLite)', r.audit_append_per_s, '>= 10000'],
    ['audit verify events/s', r.audit_verify_per_s, '>= 100000'],
  ];
  const w = Math.max(...rows.map((x) => x[0].length)) + 2;
  process.stdout.write(`\n${pad('metric', w)}${pad('value', 34)}goal\n${'-'.repeat(w + 44)}\n`);
  for (const [k, v, g] of rows) process.stdout.write(`${pad(k, w)}${pad(fmt(v), 34)}${g}\n`);
}

export async function runBrokerBench(o: BrokerBenchOptions): Promise<number> {
  const sh = shape(o.quick);
  const started = performance.now();
  const errors: string[] = [];
  const details: Record<string, unknown> = {};
  const machineLoad: Record<string, { busy_cores: number; own_cores: number; other_cores: number }> = {};
  const section = async <T>(name: string, fn: () => Promise<T>, postgres = false): Promise<T | undefined> => {
    process.stdout.write(`\n== ${name}\n`);
    const t = performance.now();
    const load = new MachineLoad();
    try {
      return await fn();
    } catch (e) {
      errors.push(`${name}: ${(e as Error).stack ?? String(e)}`);
      process.stdout.write(`  FAILED: ${(e as Error).message}\n`);
      return undefined;
    } finally {
      const l = load.stop();
      machineLoad[name] = l;
      const warn = postgres
        ? '  (other includes the PostgreSQL server)'
        : l.other_cores > 0.3
          ? `  WARNING: other work on this machine used ${l.other_cores} of ${os.cpus().length} cores meanwhile; numbers are pessimistic`
          : '';
      process.stdout.write(`  (${((performance.now() - t) / 1000).toFixed(1)} s; machine busy ${l.busy_cores} cores, ours ${l.own_cores}, other ${l.other_cores})${warn}\n`);
    }
  };

  // The lifecycle brokers start now, in parallel with the relay set-up, and idle until their turn.
  const lifecycleBrokers: LifecycleBroker[] = [];
  let pgProblem: string | null = null;
  if (want(o, 'lifecycle')) {
    lifecycleBrokers.push(startLifecycleBroker(o, sh, 'sqlite'));
    pgProblem = await postgresReachable();
    if (pgProblem) errors.push(`lifecycles on PostgreSQL: ${PG_URL} not reachable: ${pgProblem}`);
    else lifecycleBrokers.push(startLifecycleBroker(o, sh, 'postgres'));
  }
  o.beforeMeasuring = async () => {
    await Promise.allSettled(lifecycleBrokers.map((b) => b.started));
  };
  let ours: RelayResult | undefined;
  let plain: RelayResult | undefined;
  let peer: RelayResult | undefined;
  let kill: KillResult | undefined;
  if (want(o, 'relay') || want(o, 'kill')) {
    const title = want(o, 'relay') ? `relay: chaperone, plain ws and PeerJS, ${sh.sessions * 2} sockets each, then the kill switch` : `kill switch: ${sh.sessions} live sessions`;
    const r = await section(title, () => relayAndKill(o, sh));
    ours = r?.relay.chaperone;
    plain = r?.relay.plain_ws;
    peer = r?.relay.peerjs;
    kill = r?.kill;
  }
  let sqlite: LifecycleResult | undefined;
  let postgres: LifecycleResult | undefined;
  for (const lb of lifecycleBrokers) {
    const r = await section(`lifecycles on ${lb.engine === 'sqlite' ? 'SQLite' : 'PostgreSQL'}`, () => lifecycles(o, sh, lb), lb.engine === 'postgres');
    if (lb.engine === 'sqlite') sqlite = r;
    else postgres = r;
  }
  let au: AuditResult | undefined;
  if (want(o, 'audit')) au = await section(`audit log: ${sh.auditEvents} concurrent appends, then verify`, () => audit(sh));

  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? round(a / b, 2) : null);
  const result: Record<string, unknown> = {
    quick: o.quick,
    timestamp: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model ?? '', node: process.version, platform: `${os.platform()} ${os.release()}`, total_mem_mib: Math.round(os.totalmem() / 2 ** 20) },
    relay_p50_ms: num(ours?.phase_64.latency_ms.p50),
    relay_p99_ms: num(ours?.phase_64.latency_ms.p99),
    relay_p50_ms_plain_ws: num(plain?.phase_64.latency_ms.p50),
    relay_p99_ms_plain_ws: num(plain?.phase_64.latency_ms.p99),
    relay_p50_ms_peerjs: num(peer?.phase_64.latency_ms.p50),
    relay_p99_ms_peerjs: num(peer?.phase_64.latency_ms.p99),
    relay_p50_ms_4k: num(ours?.phase_4k.latency_ms.p50),
    relay_p99_ms_4k: num(ours?.phase_4k.latency_ms.p99),
    relay_p50_ms_plain_ws_4k: num(plain?.phase_4k.latency_ms.p50),
    relay_p99_ms_plain_ws_4k: num(plain?.phase_4k.latency_ms.p99),
    relay_p50_ms_peerjs_4k: num(peer?.phase_4k.latency_ms.p50),
    relay_p99_ms_peerjs_4k: num(peer?.phase_4k.latency_ms.p99),
    relay_p99_ratio_plain_ws: ratio(ours?.phase_64.latency_ms.p99, plain?.phase_64.latency_ms.p99),
    relay_p99_ratio_plain_ws_4k: ratio(ours?.phase_4k.latency_ms.p99, plain?.phase_4k.latency_ms.p99),
    relay_p99_ratio_peerjs: ratio(ours?.phase_64.latency_ms.p99, peer?.phase_64.latency_ms.p99),
    relay_p99_ratio_peerjs_4k: ratio(ours?.phase_4k.latency_ms.p99, peer?.phase_4k.latency_ms.p99),
    relay_p99_round_median_ms: {
      note: 'median over rounds of each round p99: less swayed by a single machine stall than the pooled p99 above',
      chaperone: ours ? [ours.phase_64.p99_round_median_ms, ours.phase_4k.p99_round_median_ms] : null,
      plain_ws: plain ? [plain.phase_64.p99_round_median_ms, plain.phase_4k.p99_round_median_ms] : null,
      peerjs: peer ? [peer.phase_64.p99_round_median_ms, peer.phase_4k.p99_round_median_ms] : null,
      ratio_plain_ws: ratio(ours?.phase_64.p99_round_median_ms, plain?.phase_64.p99_round_median_ms),
      ratio_plain_ws_4k: ratio(ours?.phase_4k.p99_round_median_ms, plain?.phase_4k.p99_round_median_ms),
    },
    machine_stalls_during_relay: ours
      ? {
          note: 'an idle probe process timing its own 1 ms timer: stalls here are the VM, not a server',
          max_stall_ms: Math.max(0, ...[ours, plain, peer].flatMap((x) => (x ? [...x.phase_64.machine_max_stall_by_round_ms, ...x.phase_4k.machine_max_stall_by_round_ms] : []))),
          stalled_ms_over_10ms: [ours, plain, peer].reduce((n, x) => n + (x ? x.phase_64.machine_stalled_ms_over_10ms + x.phase_4k.machine_stalled_ms_over_10ms : 0), 0),
        }
      : null,
    broker_rss_mib: num(ours?.peak_rss_mib),
    broker_rss_mib_plain_ws: num(plain?.peak_rss_mib),
    broker_rss_mib_peerjs: num(peer?.peak_rss_mib),
    kill_switch_p50_ms: num(kill?.closed_ms.p50),
    kill_switch_p99_ms: num(kill?.closed_ms.p99),
    lifecycles_per_s_sqlite: num(sqlite?.lifecycles_per_s),
    lifecycles_per_s_postgres: num(postgres?.lifecycles_per_s),
    broker_cpu_ms_per_lifecycle_sqlite: num(sqlite?.server_cpu_ms_per_lifecycle),
    broker_cpu_ms_per_lifecycle_postgres: num(postgres?.server_cpu_ms_per_lifecycle),
    audit_append_per_s: au ? Math.round(au.append_per_s) : null,
    audit_verify_per_s: au?.verify.available && au.verify.per_s !== undefined ? Math.round(au.verify.per_s) : null,
    load: {
      relay: {
        sessions: sh.sessions,
        sockets: sh.sessions * 2,
        messages_per_s_total: sh.rate,
        messages_per_s_per_socket: round(sh.rate / (sh.sessions * 2), 2),
        warmup_s: sh.warmupS,
        rounds: sh.rounds,
        seconds_per_round: sh.roundS,
        seconds_per_size_per_server: sh.rounds * sh.roundS,
        schedule: 'all three servers up at once, every socket connected; rounds alternate server (rotating order) and size, so machine hiccups hit each server alike; latencies pooled over rounds',
        sizes_bytes: [64, 4096],
        payload: "{kind:'offer'|'answer', sdp: string of the size}, alternating direction, round-robin over sessions, open loop",
        latency: 'one-way: performance.now() at send and at receive in the load-generator process (servers in their own processes)',
      },
      kill: { kills: sh.kills, sequential: true, live_sessions: sh.sessions },
      lifecycle: { concurrency: sh.concurrency, seconds: sh.lifecycleS, warmup_s: sh.lifecycleWarmupS, analysts: sh.analysts },
      audit: { events: sh.auditEvents, concurrent: true },
    },
    broker_node_args: o.brokerNodeArgs ?? [],
    rate_limits: 'broker defaults, none raised (per socket 100 frames/s, burst 200; load stays at or below ' + round(sh.rate / (sh.sessions * 2), 2) + ' frames/s per socket plus heartbeats)',
    unexpected_closes: { count: unexpectedCloses.length, first: unexpectedCloses.slice(0, 20) },
    details: { ...details, relay: { chaperone: ours, plain_ws: plain, peerjs: peer }, kill_switch: kill, lifecycles: { sqlite, postgres }, audit: au },
    machine_load_by_section: {
      note: 'cores busy machine-wide vs. this benchmark (load generator + its children); other_cores is other tenants of the VM, and PostgreSQL during its section',
      ...machineLoad,
    },
    duration_s: round((performance.now() - started) / 1000, 1),
    errors,
  };
  fs.mkdirSync(RESULTS, { recursive: true });
  const file = path.join(RESULTS, 'broker.json');
  fs.writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  printTable(result);
  process.stdout.write(`\nwrote ${path.relative(process.cwd(), file)} in ${result.duration_s} s${o.cpuProf ? `; CPU profiles in ${path.relative(process.cwd(), PROF_DIR)}` : ''}\n`);
  if (errors.length) {
    process.stdout.write(`\n${errors.length} section(s) failed:\n${errors.map((e) => `  ${e.split('\n')[0]}`).join('\n')}\n`);
    return 1;
  }
  return 0;
}
