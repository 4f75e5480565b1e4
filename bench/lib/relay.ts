import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { PerformanceObserver, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { round, summarize, type Summary } from './stats.js';

/**
 * Two connected parties of one relayed session, whatever the server: `frame(dir, sdp)` builds the
 * text frame the sending side puts on the wire for an SDP string (dir 0: a sends to b, 1: b to a).
 */
export interface Pair {
  a: WebSocket;
  b: WebSocket;
  frame(dir: 0 | 1, sdp: string): string;
}

const MARK = Buffer.from('"sdp":"');
const BAR = 0x7c; // '|'
const PAD = 'x'.repeat(64 * 1024);

/**
 * Every relayed message carries its id at the start of the SDP (`<id>|xxxx...`). Sender and
 * receiver are in this process, so one-way latency is performance.now() at receive minus at send.
 */
class Recorder {
  readonly sentAt: Float64Array;
  readonly lat: Float64Array;
  received = 0;
  late = 0;
  errors = new Map<string, number>();

  constructor(
    readonly base: number,
    readonly capacity: number,
  ) {
    this.sentAt = new Float64Array(capacity).fill(-1);
    this.lat = new Float64Array(capacity).fill(-1);
  }

  onMessage(data: Buffer, t: number): void {
    const i = data.indexOf(MARK);
    if (i < 0) {
      // Not a relayed message: count error frames (rate limiting, refusals) by their code.
      if (data.length < 2000 && data.includes('"error"')) {
        const s = data.toString('utf8');
        const m = /"code":"([^"]+)"/.exec(s);
        const code = m?.[1] ?? 'error';
        this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
      }
      return;
    }
    let id = 0;
    let j = i + MARK.length;
    for (; j < data.length; j++) {
      const c = data[j]!;
      if (c === BAR) break;
      id = id * 10 + (c - 48);
    }
    const k = id - this.base;
    if (k < 0 || k >= this.capacity) {
      this.late++;
      return;
    }
    const s = this.sentAt[k]!;
    if (s < 0 || this.lat[k]! >= 0) return;
    this.lat[k] = t - s;
    this.received++;
  }
}

let current: Recorder | null = null;

/**
 * A full garbage collection of this process, run between phases (never inside one), so that the
 * load generator's own major GC pauses do not land in a measurement window.
 */
const fullGc: () => void = (() => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (() => void) | undefined;
  return typeof gc === 'function' ? gc : () => undefined;
})();

/** Garbage-collection pauses of this process, as seen during the current phase. */
let gcPauses: number[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push(e.duration);
}).observe({ entryTypes: ['gc'] });
let nextId = 1;

/** Routes every relayed frame a socket receives to the phase being measured. Call once per socket. */
export function attachReceiver(ws: WebSocket): void {
  ws.on('message', (data: Buffer) => {
    const t = performance.now();
    current?.onMessage(data, t);
  });
}

/** A background keepalive: sends each (socket, frame) once per interval, spread evenly over it. */
export class Keepalive {
  private readonly items: { ws: WebSocket; frame: string }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private cursor = 0;
  sent = 0;

  constructor(private readonly intervalMs: number, private readonly tickMs = 100) {}

  add(ws: WebSocket, frame: string): void {
    this.items.push({ ws, frame });
  }

  start(): void {
    const slices = Math.max(1, Math.round(this.intervalMs / this.tickMs));
    this.timer = setInterval(() => {
      const per = Math.ceil(this.items.length / slices);
      for (let i = 0; i < per && this.items.length > 0; i++) {
        const it = this.items[this.cursor % this.items.length]!;
        this.cursor++;
        if (it.ws.readyState === it.ws.OPEN) {
          it.ws.send(it.frame);
          this.sent++;
        }
      }
    }, this.tickMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Raw outcome of one phase; rounds of the same server and size are pooled with RelayPool. */
export interface PhaseRaw {
  sent: number;
  /** Messages not sent because a socket of the pair had closed. */
  skippedClosed: number;
  received: number;
  latencies: Float64Array;
  errors: Map<string, number>;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  gcMaxMs: number;
  gcTotalMs: number;
}

/**
 * Sends `rate` messages a second, spread round-robin over the pairs and alternating direction, for
 * `durationS` seconds (open loop: the schedule does not wait for replies), then waits for stragglers.
 */
export async function runPhase(pairs: readonly Pair[], o: { rate: number; durationS: number; size: number; label?: string }): Promise<PhaseRaw> {
  const total = Math.round(o.rate * o.durationS);
  fullGc();
  await new Promise((r) => setTimeout(r, 20));
  const rec = new Recorder(nextId, total);
  nextId += total + 1;
  current = rec;
  const loop = monitorEventLoopDelay({ resolution: 2 });
  loop.enable();
  gcPauses = [];
  const P = pairs.length;
  // Spread the round-robin start so consecutive phases do not always begin on the same sockets.
  const offset = Math.floor(Math.random() * P);
  let k = 0;
  let skipped = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * o.rate));
      while (k < due) {
        const j = k + offset;
        const pair = pairs[j % P]!;
        const dir = (Math.floor(j / P) & 1) as 0 | 1;
        const prefix = `${rec.base + k}|`;
        const sdp = prefix + PAD.slice(0, Math.max(0, o.size - prefix.length));
        const frame = pair.frame(dir, sdp);
        const ws = dir === 0 ? pair.a : pair.b;
        const to = dir === 0 ? pair.b : pair.a;
        if (ws.readyState === ws.OPEN && to.readyState === to.OPEN) {
          rec.sentAt[k] = performance.now();
          ws.send(frame);
        } else skipped++;
        k++;
      }
      if (k >= total) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  // Stragglers: up to 3 s for the last replies.
  const deadline = performance.now() + 3000;
  while (rec.received < total - skipped && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  loop.disable();
  current = null;
  const lats = new Float64Array(rec.received);
  let n = 0;
  for (let i = 0; i < total; i++) if (rec.lat[i]! >= 0) lats[n++] = rec.lat[i]!;
  // BENCH_DUMP_DIR: raw samples (send time from phase start, one-way latency) for a closer look.
  const dump = process.env.BENCH_DUMP_DIR;
  if (dump && o.label) {
    fs.mkdirSync(dump, { recursive: true });
    const lines = ['send_ms,latency_ms'];
    for (let i = 0; i < total; i++) lines.push(`${(rec.sentAt[i]! - t0).toFixed(3)},${rec.lat[i]!.toFixed(3)}`);
    fs.writeFileSync(path.join(dump, `${o.label}.csv`), lines.join('\n') + '\n');
  }
  // The histogram counts from the expected wake-up, so subtract the sampling interval.
  const ms = (ns: number) => Math.max(0, ns / 1e6 - 2);
  return { sent: total - skipped, skippedClosed: skipped, received: rec.received, latencies: lats, errors: rec.errors, loopDelayP99Ms: ms(loop.percentile(99)), loopDelayMaxMs: ms(loop.max), gcMaxMs: Math.max(0, ...gcPauses), gcTotalMs: gcPauses.reduce((a, b) => a + b, 0) };
}

export interface PooledResult {
  size_bytes: number;
  rate_per_s: number;
  rounds: number;
  seconds: number;
  sent: number;
  received: number;
  lost: number;
  skipped_closed: number;
  /** Over every message of every round. */
  latency_ms: Summary;
  /** p99 of each round on its own: shows whether one bad moment drives the pooled p99. */
  p99_by_round_ms: number[];
  /** Median of the rounds' p99: less swayed by one machine hiccup than the pooled p99. */
  p99_round_median_ms: number;
  /** Stalls of an idle probe process during each round: the machine's own hiccups. */
  machine_max_stall_by_round_ms: number[];
  machine_stalled_ms_over_10ms: number;
  errors: Record<string, number>;
  /** How late this process's own event loop ran (it sends and receives for every socket): worst round. */
  client_loop_delay_p99_ms: number;
  client_loop_delay_max_ms: number;
  /** Longest garbage-collection pause of this process in any round. */
  client_gc_max_ms: number;
}

function median(xs: number[]): number {
  const a = [...xs].sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  const m = Math.floor(a.length / 2);
  return round(a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2);
}

/** Pools the rounds of one server and size. */
export class RelayPool {
  private readonly rounds: PhaseRaw[] = [];
  private readonly jitter: { max_stall_ms: number; stalls_over_10ms: number; stalled_ms_over_10ms: number }[] = [];
  private seconds = 0;

  constructor(
    readonly size: number,
    readonly rate: number,
  ) {}

  add(r: PhaseRaw, seconds: number, jitter?: { max_stall_ms: number; stalls_over_10ms: number; stalled_ms_over_10ms: number }): void {
    this.rounds.push(r);
    this.seconds += seconds;
    if (jitter) this.jitter.push(jitter);
  }

  result(): PooledResult {
    const all = new Float64Array(this.rounds.reduce((n, r) => n + r.latencies.length, 0));
    let i = 0;
    for (const r of this.rounds) {
      all.set(r.latencies, i);
      i += r.latencies.length;
    }
    const errors: Record<string, number> = {};
    for (const r of this.rounds) for (const [k, v] of r.errors) errors[k] = (errors[k] ?? 0) + v;
    const sent = this.rounds.reduce((n, r) => n + r.sent, 0);
    const received = this.rounds.reduce((n, r) => n + r.received, 0);
    return {
      size_bytes: this.size,
      rate_per_s: this.rate,
      rounds: this.rounds.length,
      seconds: round(this.seconds, 2),
      sent,
      received,
      lost: sent - received,
      skipped_closed: this.rounds.reduce((n, r) => n + r.skippedClosed, 0),
      latency_ms: summarize(all),
      p99_by_round_ms: this.rounds.map((r) => summarize(r.latencies).p99),
      p99_round_median_ms: median(this.rounds.map((r) => summarize(r.latencies).p99)),
      machine_max_stall_by_round_ms: this.jitter.map((j) => j.max_stall_ms),
      machine_stalled_ms_over_10ms: this.jitter.reduce((n, j) => n + j.stalled_ms_over_10ms, 0),
      errors,
      client_loop_delay_p99_ms: round(Math.max(0, ...this.rounds.map((r) => r.loopDelayP99Ms))),
      client_loop_delay_max_ms: round(Math.max(0, ...this.rounds.map((r) => r.loopDelayMaxMs))),
      client_gc_max_ms: round(Math.max(0, ...this.rounds.map((r) => r.gcMaxMs))),
    };
  }
}
