// What every section of the broker benchmark shares: its options, the run's shape (full or
// --quick), where results go, and small helpers.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO_ROOT } from '../lib/child.js';

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
export class SelfCpu {
  private readonly c0 = process.cpuUsage();
  private readonly t0 = performance.now();
  percent(): number {
    const d = process.cpuUsage(this.c0);
    return Math.round(((d.user + d.system) / 1000 / (performance.now() - this.t0)) * 100);
  }
}

export const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const RESULTS = path.join(REPO_ROOT, 'bench', 'results');
export const PROF_DIR = path.join(RESULTS, 'prof');

export function shape(quick: boolean) {
  return quick
    ? { sessions: 100, rate: 1000, warmupS: 0.5, rounds: 2, roundS: 1, kills: 20, lifecycleS: 4, lifecycleWarmupS: 1, concurrency: 32, analysts: 4, auditEvents: 20_000, setupConcurrency: 16 }
    : { sessions: 1000, rate: 2000, warmupS: 2, rounds: 10, roundS: 1, kills: 100, lifecycleS: 20, lifecycleWarmupS: 3, concurrency: 32, analysts: 8, auditEvents: 50_000, setupConcurrency: 16 };
}
export type Shape = ReturnType<typeof shape>;

export const HEARTBEAT_INTERVAL_MS = 5000;
export const signalFrame = (dir: 0 | 1, sdp: string) => `{"type":"signal","payload":{"kind":"${dir === 0 ? 'offer' : 'answer'}","sdp":"${sdp}"}}`;

export function want(o: BrokerBenchOptions, section: string): boolean {
  return o.only.size === 0 || o.only.has(section);
}

export function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
