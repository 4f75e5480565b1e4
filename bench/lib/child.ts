import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Lines a server child prints for the parent start with this tag; anything else is passed through. */
export const TAG = '@@bench ';

/** Prints one tagged JSON message for the parent (used by the server children). */
export function emit(msg: Record<string, unknown>): void {
  process.stdout.write(`${TAG}${JSON.stringify(msg)}\n`);
}

const live = new Set<ServerChild>();
/** CPU seconds of children that have already exited (read just before they were stopped). */
let exitedChildrenCpuS = 0;

function readStatTicks(file: string): number[] | null {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  } catch {
    return null;
  }
}

/**
 * CPU use of the whole machine versus this benchmark's own processes over an interval: on a
 * shared VM, other tenants' work shows up as `other_cores` and makes latencies and rates worse.
 */
export class MachineLoad {
  private readonly sys0 = readStatTicks('/proc/stat');
  private readonly own0 = ownCpuSeconds();
  private readonly t0 = Date.now();

  stop(): { busy_cores: number; own_cores: number; other_cores: number } {
    const sys1 = readStatTicks('/proc/stat');
    const secs = (Date.now() - this.t0) / 1000;
    const busy = (t: number[]) => (t[0] ?? 0) + (t[1] ?? 0) + (t[2] ?? 0) + (t[5] ?? 0) + (t[6] ?? 0) + (t[7] ?? 0);
    const busyCores = this.sys0 && sys1 && secs > 0 ? (busy(sys1) - busy(this.sys0)) / 100 / secs : NaN;
    const ownCores = secs > 0 ? (ownCpuSeconds() - this.own0) / secs : NaN;
    const r = (x: number) => Math.round(x * 100) / 100;
    return { busy_cores: r(busyCores), own_cores: r(ownCores), other_cores: r(Math.max(0, busyCores - ownCores)) };
  }
}

/** This process plus every server child, living or exited. */
export function ownCpuSeconds(): number {
  const u = process.cpuUsage();
  let s = (u.user + u.system) / 1e6 + exitedChildrenCpuS;
  for (const c of live) {
    const x = c.cpuSeconds();
    if (!Number.isNaN(x)) s += x;
  }
  return s;
}
process.on('exit', () => {
  for (const c of live) c.killNow();
});

export interface SpawnOptions {
  /** Directory for a V8 CPU profile of the child (written when it exits cleanly). */
  cpuProfDir?: string | undefined;
  env?: Record<string, string>;
  /** Extra node flags for the child (e.g. --trace-gc). */
  nodeArgs?: string[];
}

/**
 * A server under test in its own process (its own event loop and, on a 2-core machine, mostly its
 * own core), so the load generator does not distort it. Talks to the parent in tagged JSON lines.
 */
export class ServerChild {
  readonly proc: ChildProcess;
  readonly pid: number;
  private readonly messages: Record<string, unknown>[] = [];
  private waiters: { pred: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }[] = [];
  private exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;

  constructor(readonly name: string, script: string, args: string[] = [], o: SpawnOptions = {}) {
    const nodeArgs = ['--import', 'tsx', ...(o.nodeArgs ?? [])];
    if (o.cpuProfDir) {
      // One directory per child: with tsx there are two threads (main and the loader hooks), each
      // writing its own CPU.*.cpuprofile; the main thread's is the big one.
      const dir = path.join(o.cpuProfDir, `${name}-${Date.now()}`);
      fs.mkdirSync(dir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
    }
    this.proc = spawn(process.execPath, [...nodeArgs, path.join(REPO_ROOT, script), ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, CHAPERONE_LOG_LEVEL: 'silent', ...(o.env ?? {}) },
    });
    if (this.proc.pid === undefined) throw new Error(`could not start ${script}`);
    this.pid = this.proc.pid;
    live.add(this);
    const rl = readline.createInterface({ input: this.proc.stdout! });
    rl.on('line', (line) => {
      if (!line.startsWith(TAG)) {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      const m = JSON.parse(line.slice(TAG.length)) as Record<string, unknown>;
      const w = this.waiters.find((x) => x.pred(m));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(m);
      } else this.messages.push(m);
    });
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code) => {
        this.exitCode = code;
        live.delete(this);
        resolve(code);
        for (const w of this.waiters) w.resolve({ event: 'exit', code });
        this.waiters = [];
      });
    });
  }

  /** Resolves with the first message whose `event` matches (or rejects if the child dies first). */
  async waitFor<T = Record<string, unknown>>(event: string, timeoutMs = 120_000): Promise<T> {
    const i = this.messages.findIndex((m) => m.event === event);
    if (i >= 0) return this.messages.splice(i, 1)[0] as T;
    if (this.exitCode !== undefined) throw new Error(`${this.name} exited (code ${this.exitCode}) before sending ${event}`);
    const m = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no ${event} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        pred: (x) => x.event === event || x.event === 'error',
        resolve: (x) => {
          clearTimeout(t);
          resolve(x);
        },
      });
    });
    if (m.event === 'exit') throw new Error(`${this.name} exited (code ${String(m.code)}) before sending ${event}`);
    if (m.event === 'error') throw new Error(`${this.name} failed: ${String(m.message)}`);
    return m as T;
  }

  /** Asks a broker child for its counters (SIGUSR2 → a `stats` message). */
  async stats<T = Record<string, unknown>>(): Promise<T> {
    const p = this.waitFor<T>('stats', 10_000);
    this.proc.kill('SIGUSR2');
    return p;
  }

  /** Resident set size in MiB, from /proc. */
  rssMiB(): number {
    try {
      const s = fs.readFileSync(`/proc/${this.pid}/status`, 'utf8');
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(s);
      return m ? Number(m[1]) / 1024 : NaN;
    } catch {
      return NaN;
    }
  }

  /** User plus system CPU seconds the child has used so far, from /proc. */
  cpuSeconds(): number {
    try {
      const s = fs.readFileSync(`/proc/${this.pid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // After the command name: state is field 3, utime 14 and stime 15 (1-based over the whole line).
      return (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      return NaN;
    }
  }

  /** Asks the child to shut down cleanly (SIGTERM; it closes and exits), then kills it if it hangs. */
  async stop(timeoutMs = 20_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    const cpu = this.cpuSeconds();
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.killNow(), timeoutMs);
    await this.exited;
    clearTimeout(t);
    if (!Number.isNaN(cpu)) exitedChildrenCpuS += cpu;
  }

  killNow(): void {
    if (this.exitCode === undefined) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/** Samples a child's RSS and CPU while a phase runs. */
export class ResourceSampler {
  peakRssMiB = 0;
  private timer: NodeJS.Timeout | null = null;
  private cpu0 = 0;
  private t0 = 0;
  cpuPercent = NaN;

  constructor(private readonly child: ServerChild, private readonly everyMs = 250) {}

  start(): void {
    this.cpu0 = this.child.cpuSeconds();
    this.t0 = Date.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  private sample(): void {
    const r = this.child.rssMiB();
    if (r > this.peakRssMiB) this.peakRssMiB = r;
  }

  stop(): { peak_rss_mib: number; cpu_percent: number } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    const secs = (Date.now() - this.t0) / 1000;
    this.cpuPercent = secs > 0 ? ((this.child.cpuSeconds() - this.cpu0) / secs) * 100 : NaN;
    return { peak_rss_mib: Math.round(this.peakRssMiB * 10) / 10, cpu_percent: Math.round(this.cpuPercent) };
  }
}
