// Summarises a V8 .cpuprofile: a busy-time timeline, self time by function and by package/file,
// and total (inclusive) time of the heaviest frames, optionally over a window of the profile only.
// Usage: node --import tsx bench/tools/cpuprofile-summary.ts FILE [--top N] [--from S] [--to S] [--busiest S]
//   --busiest S picks the S-second window with the least idle time (the load, not start-up).
import fs from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' }, from: { type: 'string' }, to: { type: 'string' }, busiest: { type: 'string' } } });
const file = positionals[0];
const top = Number(values.top);
if (!file) {
  process.stderr.write('usage: cpuprofile-summary.ts FILE [--top N] [--from S] [--to S] [--busiest S]\n');
  process.exit(2);
}
process.stdout.on('error', () => process.exit(0));
const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const idleId = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
// Sample times (µs from the start) and durations (the delta that follows each sample).
const at: number[] = [];
let t = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i] ?? 0;
  at.push(t);
}
const dur = (i: number) => p.timeDeltas[i + 1] ?? 0;
// Timeline: busy share per second.
const buckets = new Map<number, { busy: number; all: number }>();
for (let i = 0; i < p.samples.length; i++) {
  const b = Math.floor(at[i]! / 1e6);
  const x = buckets.get(b) ?? { busy: 0, all: 0 };
  x.all += dur(i);
  if (!idleId.has(p.samples[i]!)) x.busy += dur(i);
  buckets.set(b, x);
}
process.stdout.write(`busy share per second: ${[...buckets.entries()].map(([b, x]) => `${b}s:${Math.round((x.busy / Math.max(1, x.all)) * 100)}%`).join(' ')}\n`);
let from = values.from !== undefined ? Number(values.from) * 1e6 : 0;
let to = values.to !== undefined ? Number(values.to) * 1e6 : Infinity;
if (values.busiest) {
  const w = Number(values.busiest);
  const secs = [...buckets.keys()].sort((a, b) => a - b);
  let best = -1;
  let bestStart = 0;
  for (const s0 of secs) {
    let busy = 0;
    for (let k = 0; k < w; k++) busy += buckets.get(s0 + k)?.busy ?? 0;
    if (busy > best) {
      best = busy;
      bestStart = s0;
    }
  }
  from = bestStart * 1e6;
  to = (bestStart + w) * 1e6;
}
process.stdout.write(`window: ${(from / 1e6).toFixed(1)} s to ${to === Infinity ? 'end' : `${(to / 1e6).toFixed(1)} s`}\n`);
const selfUs = new Map<number, number>();
for (let i = 0; i < p.samples.length; i++) {
  if (at[i]! < from || at[i]! >= to) continue;
  const id = p.samples[i]!;
  selfUs.set(id, (selfUs.get(id) ?? 0) + dur(i));
}
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
const where = (n: Node) => {
  const u = n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'nm:').replace(/^.*\/work\/main\//, '');
  return `${n.callFrame.functionName || '(anon)'} ${u}:${n.callFrame.lineNumber + 1}`;
};
const pkg = (n: Node) => {
  const u = n.callFrame.url;
  if (!u) return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (m) return `nm:${m[1]}`;
  if (u.startsWith('node:')) return u;
  return u.replace(/^file:\/\//, '').replace(/^.*\/work\/main\//, '');
};
const agg = (key: (n: Node) => string) => {
  const m = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const k = key(byId.get(id)!);
    m.set(k, (m.get(k) ?? 0) + us);
  }
  return [...m.entries()].sort((a, b) => b[1] - a[1]);
};
const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms`;
process.stdout.write(`profile ${file}: ${(total / 1e6).toFixed(2)} s sampled\n\n-- self time by package/file\n`);
for (const [k, us] of agg(pkg).slice(0, top)) process.stdout.write(`${pct(us)}  ${k}\n`);
process.stdout.write(`\n-- self time by function\n`);
for (const [k, us] of agg(where).slice(0, top)) process.stdout.write(`${pct(us)}  ${k}\n`);
// Inclusive: each sample counts once for every distinct frame on its stack.
const incl = new Map<string, number>();
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = where(byId.get(cur)!);
    if (seen.has(k)) continue;
    seen.add(k);
    incl.set(k, (incl.get(k) ?? 0) + us);
  }
}
process.stdout.write(`\n-- inclusive time (app and selected library frames)\n`);
for (const [k, us] of [...incl.entries()].filter(([k]) => !k.startsWith('(')).sort((a, b) => b[1] - a[1]).slice(0, top * 2)) {
  process.stdout.write(`${pct(us)}  ${k}\n`);
}
