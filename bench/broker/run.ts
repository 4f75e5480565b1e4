/**
 * Broker benchmark: signaling relay latency under load (against a plain `ws` relay and the PeerJS
 * server), the kill switch with live sessions, full lifecycles per second on SQLite and
 * PostgreSQL, and the audit log's append and verify rates. Every server under test runs in a
 * child process of its own; this process is the load generator. Writes bench/results/broker.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { MachineLoad } from '../lib/child.js';
import { round } from '../lib/stats.js';
import { audit, type AuditResult } from './audit.js';
import { lifecycles, postgresReachable, startLifecycleBroker, type LifecycleBroker, type LifecycleResult } from './lifecycles.js';
import { PG_URL, PROF_DIR, RESULTS, pad, shape, want, type BrokerBenchOptions } from './options.js';
import { relayAndKill, unexpectedCloses, type KillResult } from './relay-and-kill.js';
import type { RelayResult } from './relay.js';

const num = (x: number | null | undefined): number | null => (x === undefined || x === null || Number.isNaN(x) ? null : round(x, 3));

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
