// A preload for broker processes (bench/tools/cluster-diag.ts sets it in NODE_OPTIONS): counts
// PostgreSQL queries by text, Redis commands by name and key kind, and pub/sub messages received
// by channel kind; SIGUSR2 writes the totals to $DIAG_DIR/<pid>.json. With DIAG_PROF the first
// SIGUSR2 also starts a CPU profile and the second writes it. Diagnostics only: it patches pg and ioredis.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
const require = createRequire(path.join(process.cwd(), 'package.json'));
const pg = require('pg');
const { Redis } = require('ioredis');
const counts = { pg: {}, redis: {}, msgs: {} };
const inc = (o, k) => (o[k] = (o[k] ?? 0) + 1);
const origQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (q, ...rest) {
  const text = typeof q === 'string' ? q : q?.text;
  if (text) inc(counts.pg, text.replace(/\s+/g, ' ').replace(/\$\d+(, \$\d+)*/g, '$n').slice(0, 160));
  return origQuery.call(this, q, ...rest);
};
const kind = (k) => {
  const s = String(k ?? '');
  const parts = s.split(':');
  return parts.length > 2 ? parts[2] : s.slice(0, 20);
};
const origSend = Redis.prototype.sendCommand;
Redis.prototype.sendCommand = function (cmd, ...rest) {
  const a = cmd.args ?? [];
  const key = cmd.name === 'eval' || cmd.name === 'evalsha' ? a[2] : a[0];
  inc(counts.redis, `${cmd.name} ${kind(key)}${cmd.name === 'eval' ? ' ' + String(a[0]).slice(0, 30) : ''}`);
  return origSend.call(this, cmd, ...rest);
};
const origEmit = Redis.prototype.emit;
Redis.prototype.emit = function (ev, ...args) {
  if (ev === 'messageBuffer') inc(counts.msgs, kind(args[0]?.toString()) + ' ' + (args[1]?.toString().slice(0, 14) ?? ''));
  return origEmit.call(this, ev, ...args);
};
process.on('SIGUSR2', () => {
  fs.writeFileSync(`${process.env.DIAG_DIR ?? '/tmp/chaperone-diag'}/${process.pid}.json`, JSON.stringify(counts));
});
// With DIAG_PROF: the first SIGUSR2 starts a CPU profile, the second writes it (the counting window).
import inspector from 'node:inspector';
if (process.env.DIAG_PROF) {
  let n = 0;
  const s = new inspector.Session();
  s.connect();
  process.on('SIGUSR2', () => {
    n++;
    if (n === 1) {
      s.post('Profiler.enable', () => s.post('Profiler.setSamplingInterval', { interval: 500 }, () => s.post('Profiler.start')));
    } else if (n === 2) {
      s.post('Profiler.stop', (err, r) => {
        if (!err) fs.writeFileSync(`${process.env.DIAG_DIR}/${process.env.DIAG_PROF}-${process.pid}.cpuprofile`, JSON.stringify(r.profile));
      });
    }
  });
}
