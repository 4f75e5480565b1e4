// Full lifecycles per second on SQLite and PostgreSQL, each broker in its own process.
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { ResourceSampler, ServerChild } from '../lib/child.js';
import { STEPS, accountApi, fullLifecycle, newStepTimes, type BenchAccount } from '../lib/lifecycle.js';
import { round, summarize, withTimeout, type Summary } from '../lib/stats.js';
import { PG_URL, PROF_DIR, SelfCpu, type BrokerBenchOptions, type Shape } from './options.js';

export interface LifecycleResult {
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
  per_lifecycle?: { statements: number; audit_events: number; statement_ms: number; top_statements: Record<string, number>; top_statements_by_us: Record<string, number> };
}

export interface LifecycleBroker {
  engine: 'sqlite' | 'postgres';
  schema: string | undefined;
  child: ServerChild;
  started: Promise<{ child: ServerChild; url: string; accounts: BenchAccount[] }>;
}

/** Starts a broker for the lifecycle runs (early, so its start-up is not on the clock). */
export function startLifecycleBroker(o: BrokerBenchOptions, sh: Shape, engine: 'sqlite' | 'postgres'): LifecycleBroker {
  const schema = engine === 'postgres' ? `bench_${crypto.randomBytes(6).toString('hex')}` : undefined;
  const args = ['--analysts', String(sh.analysts), '--engine', engine];
  // The load generator is one source with 32 redemptions in flight, and each attempt counts against
  // the per-source join limit until the code is found right: at the default (10) most would be
  // refused. The bench measures the broker's work per lifecycle, so that limit is raised here only.
  args.push('--rate-limits', JSON.stringify({ join_failures_per_source: 10_000 }));
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

export async function lifecycles(o: BrokerBenchOptions, sh: Shape, lb: LifecycleBroker): Promise<LifecycleResult> {
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
    type Stats = { statements: number; by_statement: Record<string, number>; micros_by_statement: Record<string, number>; audit_appended: number };
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
      const micros = Object.entries(b1.micros_by_statement)
        .map(([k, v]) => [k, (v - (b0.micros_by_statement[k] ?? 0)) / n] as const)
        .filter(([, v]) => v > 0)
        .sort((x, y) => y[1] - x[1]);
      perLifecycle = {
        statements: round((b1.statements - b0.statements) / n, 1),
        audit_events: round((b1.audit_appended - b0.audit_appended) / n, 1),
        statement_ms: round(micros.reduce((a, [, v]) => a + v, 0) / 1000, 2),
        top_statements: Object.fromEntries(top.map(([k, v]) => [k, round(v, 2)])),
        top_statements_by_us: Object.fromEntries(micros.slice(0, 25).map(([k, v]) => [k, round(v, 1)])),
      };
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

export async function postgresReachable(): Promise<string | null> {
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
