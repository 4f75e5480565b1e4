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
process.on('exit', () => {
  for (const c of live) c.killNow();
});

export interface SpawnOptions {
  /** Directory for a V8 CPU profile of the child (written when it exits cleanly). */
  cpuProfDir?: string | undefined;
  env?: Record<string, string>;
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
    const nodeArgs = ['--import', 'tsx'];
    if (o.cpuProfDir) {
      fs.mkdirSync(o.cpuProfDir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`);
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
    this.proc.kill('SIGTERM');
    const t = setTimeout(() => this.killNow(), timeoutMs);
    await this.exited;
    clearTimeout(t);
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
