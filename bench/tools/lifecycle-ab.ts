// Broker CPU per lifecycle on SQLite of two checkouts (or one checkout with two environments),
// their brokers loaded at the same time by one load generator, so both see the same machine.
// On a shared machine the figure rises with contention (11 ms at 80/s, 14 ms at 25/s here), so
// runs one after the other compare the machine's mood; side by side they compare the code.
// Usage: node --import tsx bench/tools/lifecycle-ab.ts '["/path/a", "/path/b|NAME=value"]' [reps] [seconds] [concurrency]
//   another checkout: `git worktree add /tmp/base <commit>` and link node_modules into it.
import path from 'node:path';
import { lifecycles, type LifecycleBroker } from '../broker/lifecycles.js';
import { shape } from '../broker/options.js';
import { REPO_ROOT, ServerChild } from '../lib/child.js';
import type { BenchAccount } from '../lib/lifecycle.js';

const specs = JSON.parse(process.argv[2] ?? '[]') as string[];
if (!Array.isArray(specs) || specs.length === 0) {
  process.stderr.write('usage: lifecycle-ab.ts \'["/checkout/a", "/checkout/b|ENV=value"]\' [reps] [seconds] [concurrency]\n');
  process.exit(2);
}
const reps = Number(process.argv[3] ?? 3);
const seconds = Number(process.argv[4] ?? 12);
const concurrency = Number(process.argv[5] ?? 16);
const sh = { ...shape(false), lifecycleS: seconds + 3, lifecycleWarmupS: 3, concurrency };
const o = { quick: false, only: new Set<string>(), cpuProf: false };

function start(spec: string): LifecycleBroker {
  const [root, envs] = spec.split('|') as [string, string | undefined];
  const env = Object.fromEntries((envs ?? '').split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]));
  // The same raised per-source join limit as bench/broker/lifecycles.ts: one load generator is one source.
  const args = ['--analysts', String(sh.analysts), '--engine', 'sqlite', '--rate-limits', JSON.stringify({ join_failures_per_source: 10_000 })];
  const child = new ServerChild(`broker-${path.basename(root)}`, path.relative(REPO_ROOT, path.join(path.resolve(root), 'bench/servers/broker.ts')), args, { env });
  const started = child.waitFor<{ url: string; accounts: BenchAccount[] }>('ready').then((m) => ({ child, url: m.url, accounts: m.accounts }));
  return { engine: 'sqlite', schema: undefined, child, started };
}

const results: Record<string, { cpu_ms: number; per_s: number }[]> = {};
for (let r = 0; r < reps; r++) {
  // Alternate which one starts first.
  const order = r % 2 ? [...specs].reverse() : specs;
  const brokers = order.map((spec) => ({ spec, lb: start(spec) }));
  await Promise.all(brokers.map((b) => b.lb.started));
  const out = await Promise.all(brokers.map((b) => lifecycles(o, sh, b.lb)));
  brokers.forEach((b, i) => (results[b.spec] ??= []).push({ cpu_ms: out[i]!.server_cpu_ms_per_lifecycle, per_s: out[i]!.lifecycles_per_s }));
}
for (const [spec, rs] of Object.entries(results)) {
  const mean = rs.reduce((a, x) => a + x.cpu_ms, 0) / rs.length;
  process.stdout.write(`${spec}: broker CPU ms per lifecycle ${rs.map((x) => `${x.cpu_ms} (${x.per_s}/s)`).join(', ')}; mean ${mean.toFixed(2)}\n`);
}
process.exit(0);
