// Broker CPU per lifecycle of several set-ups loaded at the same time by one load generator, so
// each sees the same machine: a lone broker on PostgreSQL, a cluster of N instances, each from
// this checkout or another one (its kit/cluster.ts and broker). On a shared machine the figure
// moves with the machine's load; side by side, the ratios compare the set-ups and the code.
// Usage: node --import tsx bench/tools/cluster-ab.ts '["lone", "3", "/other/checkout|3"]' [seconds] [warmup-s] [concurrency]
//   each spec: [checkout|]lone or [checkout|]N (instances in cluster mode), [@concurrency]; another checkout:
//   `git archive <commit> | tar -x -C /tmp/base` and link node_modules into it.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TestCluster as TC, PrivateRedis as PR } from '../../kit/cluster.js';
import { BenchApi } from '../lib/api.js';
import { fullLifecycle } from '../lib/lifecycle.js';
import { round, sleep } from '../lib/stats.js';

const specs = JSON.parse(process.argv[2] ?? '["lone", "3"]') as string[];
const seconds = Number(process.argv[3] ?? 40);
const warmupS = Number(process.argv[4] ?? 15);
const concurrency = Number(process.argv[5] ?? 8);
const BUCKET_S = 10;

function cpuSeconds(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Target {
  spec: string;
  concurrency: number;
  c: TC;
  redis: PR | null;
  done: number;
  errors: number;
  cpu(): number;
}

const users = [{ username: 'benchadmin', roles: ['admin' as const] }, ...Array.from({ length: 8 }, (_, i) => ({ username: `analyst${i}`, roles: ['analyst' as const] }))];
// One load generator is one source (as bench/cluster.ts raises it).
const file = { rate_limits: { join_failures_per_source: 10_000, join_failures_global: 1_000_000 } };

async function start(full: string): Promise<Target> {
  const [spec, conc] = full.split('@') as [string, string | undefined];
  const [root, mode] = spec.includes('|') ? (spec.split('|') as [string, string]) : ['.', spec];
  const kit = (await import(path.resolve(root, 'kit/cluster.ts'))) as typeof import('../../kit/cluster.js');
  const n = mode === 'lone' ? 1 : Number(mode);
  // Each cluster on its own redis-server: the command counts and the load stay apart.
  const redis = mode === 'lone' ? null : await kit.PrivateRedis.start();
  const c = await kit.TestCluster.start({ instances: n, cluster: mode !== 'lone', users, file, ...(redis ? { redisUrl: redis.url } : {}) });
  return { spec: full, concurrency: conc ? Number(conc) : concurrency, c, redis, done: 0, errors: 0, cpu: () => c.instances.reduce((s, i) => s + (i.proc?.pid ? cpuSeconds(i.proc.pid) : 0), 0) };
}

const targets: Target[] = [];
try {
  for (const s of specs) targets.push(await start(s));
  const stopAt = performance.now() + (warmupS + seconds) * 1000;
  const runs = targets.map((t) => {
    const apis = users.slice(1).map((u) => {
      const x = t.c.user(u.username);
      return new BenchApi(t.c.url, x.api.device, x.api.accessToken);
    });
    let next = 0;
    const worker = async () => {
      while (performance.now() < stopAt) {
        try {
          await fullLifecycle(apis[next++ % apis.length]!);
          t.done++;
        } catch (e) {
          if (t.errors++ < 3) process.stderr.write(`${t.spec}: ${(e as Error).message}\n`);
        }
      }
    };
    return Promise.all(Array.from({ length: t.concurrency }, worker));
  });
  await sleep(warmupS * 1000);
  let mark = targets.map((t) => ({ cpu: t.cpu(), done: t.done }));
  const first = mark;
  const rows: string[] = [];
  for (let b = 0; b < Math.floor(seconds / BUCKET_S); b++) {
    await sleep(BUCKET_S * 1000);
    const now = targets.map((t) => ({ cpu: t.cpu(), done: t.done }));
    rows.push(targets.map((t, i) => `${t.spec}: ${round(((now[i]!.cpu - mark[i]!.cpu) * 1000) / Math.max(1, now[i]!.done - mark[i]!.done), 2)} ms (${now[i]!.done - mark[i]!.done})`).join('   '));
    process.stdout.write(`${rows.at(-1)}\n`);
    mark = now;
  }
  await Promise.all(runs);
  const per = targets.map((t, i) => ((mark[i]!.cpu - first[i]!.cpu) * 1000) / Math.max(1, mark[i]!.done - first[i]!.done));
  process.stdout.write(`\nafter ${warmupS} s of warm-up, over ${seconds} s:\n`);
  targets.forEach((t, i) => process.stdout.write(`  ${t.spec}: ${round(per[i]!, 2)} ms broker CPU per lifecycle, ${mark[i]!.done - first[i]!.done} lifecycles, ${t.errors} errors; vs ${targets[0]!.spec}: ${round(per[i]! / per[0]!, 3)}\n`));
} finally {
  for (const t of targets) {
    await t.c.stop().catch(() => undefined);
    await t.redis?.down();
  }
}
process.exit(0);
