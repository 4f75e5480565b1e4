// Child: a near-idle process that only watches its own 1 ms timer. Its stalls are the machine's
// (a shared VM's vCPUs descheduled, other tenants), not any server's; SIGUSR2 reports and resets.
import { performance } from 'node:perf_hooks';
import { emit } from '../lib/child.js';

let last = performance.now();
let gaps: number[] = [];
let since = last;
setInterval(() => {
  const now = performance.now();
  const late = now - last - 1;
  if (late > 2) gaps.push(late);
  last = now;
}, 1);
process.on('SIGUSR2', () => {
  const now = performance.now();
  const over10 = gaps.filter((g) => g > 10);
  emit({
    event: 'stats',
    seconds: (now - since) / 1000,
    max_stall_ms: Math.round(Math.max(0, ...gaps) * 10) / 10,
    stalls_over_10ms: over10.length,
    stalled_ms_over_10ms: Math.round(over10.reduce((a, b) => a + b, 0)),
  });
  gaps = [];
  since = now;
});
process.on('SIGTERM', () => process.exit(0));
emit({ event: 'ready', pid: process.pid });
