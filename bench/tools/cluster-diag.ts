// Where a lone broker's or a cluster's CPU goes: CPU per lifecycle in 5 s buckets (and the system
// share), idle CPU before and after, and through the counting preload (count-calls.mjs) the
// PostgreSQL queries, Redis commands and pub/sub messages per lifecycle over the second half of
// the run (summarise with `node bench/tools/count-calls-diff.mjs lone|cluster`); --prof also
// writes a CPU profile of each broker over that half (bench/tools/cpuprofile-summary.ts).
// Usage: node --import tsx bench/tools/cluster-diag.ts lone|cluster [seconds] [concurrency] [--prof]
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { TestCluster, PrivateRedis, type Instance } from '../../kit/cluster.js';
import { BenchApi } from '../lib/api.js';
import { fullLifecycle } from '../lib/lifecycle.js';
import { sleep } from '../lib/stats.js';

const mode = process.argv[2] ?? 'cluster';
const seconds = Number(process.argv[3] ?? 30);
const concurrency = Number(process.argv[4] ?? 16);
const prof = process.argv.includes('--prof');
const DIAG = process.env.DIAG_DIR ?? '/tmp/chaperone-diag';
fs.mkdirSync(DIAG, { recursive: true });
process.env.DIAG_DIR = DIAG;
process.env.NODE_OPTIONS = `--import ${path.join(import.meta.dirname, 'count-calls.mjs')}`;
if (prof) process.env.DIAG_PROF = mode;

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
function sysSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[12]) / 100;
}
const syss = (insts: Instance[]) => insts.reduce((a, i) => a + (i.proc?.pid ? sysSeconds(i.proc.pid) : 0), 0);
const cpus = (insts: Instance[]) => insts.map((i) => (i.proc?.pid ? cpuSeconds(i.proc.pid) : 0));

const users = [{ username: 'benchadmin', roles: ['admin' as const] }, ...Array.from({ length: 8 }, (_, i) => ({ username: `analyst${i}`, roles: ['analyst' as const] }))];
const file = { rate_limits: { join_failures_per_source: 10_000, join_failures_global: 1_000_000 } };
const redis = mode === 'cluster' ? await PrivateRedis.start() : null;
const c = await TestCluster.start({ instances: mode === 'cluster' ? 3 : 1, cluster: mode === 'cluster', users, file, ...(redis ? { redisUrl: redis.url } : {}) });
const dump = async (tag: string) => {
  for (const i of c.instances) i.proc?.kill('SIGUSR2');
  await sleep(300);
  const out: Record<string, any> = {};
  for (const i of c.instances) out[i.id] = JSON.parse(fs.readFileSync(`${DIAG}/${i.proc!.pid}.json`, 'utf8'));
  if (redis) {
    const { Redis } = await import('ioredis');
    const r = new Redis(redis.url);
    out.commandstats = await r.info('commandstats');
    r.disconnect();
  }
  fs.writeFileSync(`${DIAG}/${mode}-${tag}.json`, JSON.stringify(out, null, 1));
};
try {
  let c0 = cpus(c.instances);
  await sleep(10_000);
  let c1 = cpus(c.instances);
  process.stdout.write(`idle right after start, 10 s: ${c1.map((x, i) => `${((x - c0[i]!) * 100).toFixed(1)}%`).join(' ')} of a core\n`);
  const apis = users.slice(1).map((u) => {
    const x = c.user(u.username);
    return new BenchApi(c.url, x.api.device, x.api.accessToken);
  });
  let next = 0;
  let done = 0;
  let errors = 0;
  const stopAt = performance.now() + seconds * 1000;
  const worker = async () => {
    while (performance.now() < stopAt) {
      try {
        await fullLifecycle(apis[next++ % apis.length]!);
        done++;
      } catch (e) {
        errors++;
        if (errors < 3) process.stdout.write(`error: ${(e as Error).message}\n`);
      }
    }
  };
  const run = Promise.all(Array.from({ length: concurrency }, worker));
  let prevDone = 0;
  c0 = cpus(c.instances);
  let s0 = syss(c.instances);
  let dumped = false;
  while (performance.now() < stopAt - 500) {
    await sleep(5000);
    const cc = cpus(c.instances);
    const n = done - prevDone;
    const ms = cc.map((x, i) => (x - c0[i]!) * 1000);
    const sum = ms.reduce((a, b) => a + b, 0);
    const ss = syss(c.instances);
    process.stdout.write(`bucket: ${n} lifecycles, ${(sum / Math.max(1, n)).toFixed(2)} ms/lifecycle (system ${(((ss - s0) * 1000) / Math.max(1, n)).toFixed(2)}; per instance ${ms.map((m) => (m / Math.max(1, n)).toFixed(2)).join(' ')})\n`);
    s0 = ss;
    prevDone = done;
    c0 = cc;
    if (!dumped && performance.now() > stopAt - seconds * 500) {
      // The counting window: from the middle of the run to its end.
      await dump('mid');
      dumped = true;
      process.stdout.write(`counting from lifecycle ${done}\n`);
      (globalThis as any).midDone = done;
    }
  }
  await run;
  await dump('end');
  process.stdout.write(`done ${done}, errors ${errors}, counted window ${done - (globalThis as any).midDone}\n`);
  fs.writeFileSync(`${DIAG}/${mode}-window.txt`, String(done - (globalThis as any).midDone));
  await sleep(3000);
  c0 = cpus(c.instances);
  await sleep(10_000);
  c1 = cpus(c.instances);
  process.stdout.write(`idle after the load, 10 s: ${c1.map((x, i) => `${((x - c0[i]!) * 100).toFixed(1)}%`).join(' ')} of a core\n`);
} finally {
  await c.stop();
  await redis?.down();
}
process.exit(0);
