// Per-lifecycle counts between the two dumps bench/tools/cluster-diag.ts took (mid-run and end).
// Usage: node bench/tools/count-calls-diff.mjs lone|cluster  (DIAG_DIR as the run had it)
import fs from 'node:fs';
const [mode] = process.argv.slice(2);
const dir = process.env.DIAG_DIR ?? '/tmp/chaperone-diag';
const a = JSON.parse(fs.readFileSync(`${dir}/${mode}-mid.json`));
const b = JSON.parse(fs.readFileSync(`${dir}/${mode}-end.json`));
const n = Number(fs.readFileSync(`${dir}/${mode}-window.txt`, 'utf8'));
for (const sec of ['pg', 'redis', 'msgs']) {
  const tot = {};
  for (const id of Object.keys(b).filter((k) => k !== 'commandstats')) {
    for (const [k, v] of Object.entries(b[id][sec])) tot[k] = (tot[k] ?? 0) + v - (a[id][sec][k] ?? 0);
  }
  const rows = Object.entries(tot).filter(([, v]) => v > 0).sort((x, y) => y[1] - x[1]);
  const sum = rows.reduce((s, [, v]) => s + v, 0);
  console.log(`== ${sec}: ${(sum / n).toFixed(2)} per lifecycle (${n} lifecycles)`);
  for (const [k, v] of rows) console.log(`${(v / n).toFixed(3).padStart(8)}  ${k}`);
}
