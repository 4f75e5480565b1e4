import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Role } from '../common/roles.js';
import { ApiClient } from './api.js';
import { PG_URL, createUser, dropSchema, startTestBroker, tempDir, type TestBroker, type TestUser } from './broker.js';

/**
 * A broker cluster on loopback as an operator runs one: N `chaperone-broker serve` processes on
 * one PostgreSQL schema and one Redis key prefix, HAProxy (Debian's) in front balancing round
 * robin with health checks on /readyz, and accounts made beforehand. Clients talk to the
 * balancer (`url`); each instance's own port is there to find out where a socket landed.
 */

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const REPO = path.resolve(import.meta.dirname, '..');

export interface Instance {
  index: number;
  id: string;
  port: number;
  url: string;
  proc: ChildProcess | null;
  log: string[];
}

export function haveTool(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Resolves when `check` is true, polling; rejects with `what` after the timeout. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A private redis-server on its own port (fault tests stop and start it; never the machine's). */
export class PrivateRedis {
  proc: ChildProcess | null = null;
  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<PrivateRedis> {
    const r = new PrivateRedis(port ?? (await freePort()));
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const p = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = p;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const t = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(t);
          resolve();
        }
      });
      p.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
    });
  }

  async down(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }
}

export interface ClusterOptions {
  instances?: number;
  redisUrl?: string;
  users: { username: string; roles: Role[] }[];
  /** false: the instances run without REDIS_URL (one lone broker on PostgreSQL, for comparison). */
  cluster?: boolean;
  /** broker.json for every instance (one data dir: the keys, secrets and settings they share). */
  file?: Record<string, unknown>;
  /** Another PostgreSQL than the machine's (a private server a fault test stops and starts). */
  databaseUrl?: string;
}

export class TestCluster {
  readonly instances: Instance[] = [];
  users = new Map<string, TestUser>();
  haproxy: ChildProcess | null = null;
  url = '';
  private lbPort = 0;
  private cfgFile = '';

  private constructor(
    readonly dataDir: string,
    readonly pgSchema: string,
    readonly prefix: string,
    readonly redisUrl: string,
    readonly clustered = true,
    readonly databaseUrl = PG_URL,
  ) {}

  static async start(o: ClusterOptions): Promise<TestCluster> {
    const c = new TestCluster(tempDir('chaperone-cluster-'), `c15_${crypto.randomBytes(5).toString('hex')}`, `c15:${crypto.randomBytes(5).toString('hex')}:`, o.redisUrl ?? REDIS_URL, o.cluster !== false, o.databaseUrl ?? PG_URL);
    try {
      if (o.file) fs.writeFileSync(path.join(c.dataDir, 'broker.json'), JSON.stringify(o.file));
      // The accounts are made by a lone broker on the same schema and data dir first: its keys
      // (made on first start) are then the ones every instance signs and checks with.
      const setup: TestBroker = await startTestBroker('postgres', o.databaseUrl ? { databaseUrl: o.databaseUrl } : {}, { dataDir: c.dataDir, pgSchema: c.pgSchema });
      try {
        for (const u of o.users) c.users.set(u.username, await createUser(setup, u.username, u.roles));
      } finally {
        await setup.close();
      }
      const n = o.instances ?? 3;
      for (let i = 0; i < n; i++) c.instances.push({ index: i, id: `i${i}`, port: await freePort(), url: '', proc: null, log: [] });
      c.instances.forEach((inst) => (inst.url = `http://127.0.0.1:${inst.port}`));
      await Promise.all(c.instances.map((inst) => c.startInstance(inst.index)));
      await c.startHaproxy();
      for (const u of c.users.values()) {
        const api = new ApiClient(c.url, u.api.device);
        api.accessToken = u.api.accessToken;
        api.refreshToken = u.api.refreshToken;
        u.api = api;
      }
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  user(name: string): TestUser {
    const u = this.users.get(name);
    if (!u) throw new Error(`no user ${name}`);
    return u;
  }

  async startInstance(i: number, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<void> {
    // A port found free a moment ago can be taken by another process on a busy machine: take another.
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.startOnce(i, env, nodeArgs);
      } catch (e) {
        if (attempt >= 3 || !String((e as Error).message).includes('EADDRINUSE') || this.haproxy) throw e;
        const inst = this.instances[i]!;
        inst.port = await freePort();
        inst.url = `http://127.0.0.1:${inst.port}`;
        inst.log = [];
      }
    }
  }

  private async startOnce(i: number, env: Record<string, string>, nodeArgs: string[]): Promise<void> {
    const inst = this.instances[i]!;
    const p = spawn(process.execPath, [...nodeArgs, 'bin/chaperone-broker.mjs', 'serve', '--port', String(inst.port), '--data-dir', this.dataDir], {
      cwd: REPO,
      env: {
        ...process.env,
        DATABASE_URL: this.databaseUrl,
        CHAPERONE_PG_SCHEMA: this.pgSchema,
        ...(this.clustered ? { REDIS_URL: this.redisUrl, REDIS_PREFIX: this.prefix, CHAPERONE_INSTANCE_ID: inst.id } : { REDIS_URL: '' }),
        CHAPERONE_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    inst.proc = p;
    const logTo = process.env.CHAPERONE_CLUSTER_LOGS;
    const keep = (d: Buffer) => {
      if (logTo) fs.appendFileSync(path.join(logTo, `${inst.id}.log`), d);
      inst.log.push(d.toString());
      if (inst.log.length > 200) inst.log.shift();
    };
    p.stderr!.on('data', keep);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`instance ${i} did not start: ${inst.log.join('')}`)), 180_000);
      p.stdout!.on('data', (d: Buffer) => {
        keep(d);
        if (d.toString().includes('listening on')) {
          clearTimeout(t);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`instance ${i} exited ${code}: ${inst.log.join('')}`));
      });
    });
  }

  /** SIGKILL: the instance dies without a word (no lease handed back, no socket closed cleanly). */
  async kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.instances[i]!.proc;
    this.instances[i]!.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await gone;
  }

  /** The user's client aimed at one instance directly (past the balancer), same device and tokens. */
  apiOn(name: string, i: number): ApiClient {
    const u = this.user(name);
    const api = new ApiClient(this.instances[i]!.url, u.api.device);
    api.accessToken = u.api.accessToken;
    api.refreshToken = u.api.refreshToken;
    return api;
  }

  /** Which instance (index) holds the session's timer lease now, if any. */
  async leaseHolder(sid: string): Promise<number | null> {
    const { Redis } = await import('ioredis');
    const r = new Redis(this.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    r.on('error', () => undefined);
    try {
      await r.connect();
      const id = await r.get(`${this.prefix}lease:${sid}`);
      const i = this.instances.findIndex((inst) => inst.id === id);
      return i >= 0 ? i : null;
    } finally {
      r.disconnect();
    }
  }

  /** Starts a killed instance again and waits until the balancer sends it work. */
  async revive(i: number): Promise<void> {
    await this.startInstance(i);
    await waitUntil(async () => (await fetch(`${this.instances[i]!.url}/readyz`)).status === 200, 'the instance to be ready');
    // rise 2 at 300 ms
    await new Promise((r) => setTimeout(r, 1000));
  }

  /** The inbound ticket webhook's secret (one data dir: every instance has the same). */
  get ticketWebhookSecret(): string {
    return fs.readFileSync(path.join(this.dataDir, 'ticket-webhook.secret'), 'utf8').trim();
  }

  alive(i: number): boolean {
    return this.instances[i]!.proc !== null;
  }

  /** How many authenticated signaling sockets instance i holds (its /metrics). */
  async sockets(i: number): Promise<number> {
    const text = await (await fetch(`${this.instances[i]!.url}/metrics`)).text();
    const m = /^chaperone_signaling_sockets (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  /** Socket counts of every live instance (-1 for a dead one). */
  async socketMap(): Promise<number[]> {
    return Promise.all(this.instances.map((inst, i) => (inst.proc ? this.sockets(i).catch(() => -1) : Promise.resolve(-1))));
  }

  private async startHaproxy(): Promise<void> {
    this.lbPort = await freePort();
    this.url = `http://127.0.0.1:${this.lbPort}`;
    this.cfgFile = path.join(this.dataDir, 'haproxy.cfg');
    fs.writeFileSync(this.cfgFile, haproxyConfig(this.lbPort, this.instances.map((i) => i.port)));
    const p = spawn('haproxy', ['-f', this.cfgFile, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.haproxy = p;
    const log: string[] = [];
    p.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
    p.once('exit', (code) => {
      if (this.haproxy === p) log.push(`haproxy exited ${code}`);
    });
    // Ready once every instance passes its health check through the balancer's eyes.
    await waitUntil(async () => {
      if (p.exitCode !== null) throw new Error(`haproxy failed: ${log.join('')}`);
      try {
        return (await fetch(`${this.url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 'haproxy', 20_000, 100);
    // rise 2 at 300 ms: every backend is up after about a second.
    await new Promise((r) => setTimeout(r, 1200));
  }

  async stop(): Promise<void> {
    const h = this.haproxy;
    this.haproxy = null;
    if (h && h.exitCode === null) {
      const gone = new Promise((r) => h.once('exit', r));
      h.kill('SIGKILL');
      await gone;
    }
    for (let i = 0; i < this.instances.length; i++) await this.kill(i, 'SIGTERM').catch(() => undefined);
    if (this.databaseUrl === PG_URL) await dropSchema(this.pgSchema).catch(() => undefined);
    await clearPrefix(this.redisUrl, this.prefix).catch(() => undefined);
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** HAProxy in front of the brokers: the operations guide's example (docs/operations.md), on loopback. */
export function haproxyConfig(listenPort: number, ports: number[]): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    // A WebSocket stays open for the whole session.
    '  timeout tunnel 1h',
    '  option redispatch',
    '  retries 2',
    'frontend chaperone',
    `  bind 127.0.0.1:${listenPort}`,
    '  option forwardfor',
    '  default_backend brokers',
    'backend brokers',
    '  balance roundrobin',
    '  option httpchk GET /readyz',
    '  http-check expect status 200',
    '  default-server inter 300 fall 2 rise 2',
    ...ports.map((p, i) => `  server b${i} 127.0.0.1:${p} check`),
    // When every instance fails /readyz (Redis or PostgreSQL away) the same instances take the
    // requests unchecked: they refuse new sessions with a clear 503 themselves, and the kill
    // switch, ends and sign-ins still reach them. A dead instance is still skipped (connect fails, redispatch).
    ...ports.map((p, i) => `  server b${i}-when-all-unready 127.0.0.1:${p} backup`),
    '',
  ].join('\n');
}

async function clearPrefix(url: string, prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}
