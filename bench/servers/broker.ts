// Server child: a real Chaperone broker on loopback (SQLite or PostgreSQL), with bench accounts.
// Prints `ready` with its URL and, for each account, a fresh access token and the device's private
// JWK (so the load generator can make the DPoP proofs). Stops cleanly on SIGTERM.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import BetterSqlite3 from 'better-sqlite3';
import { startBroker } from '../../broker/broker.js';
import type { BrokerFile } from '../../broker/config.js';
import type { Role } from '../../common/roles.js';
import { createUser } from '../../kit/broker.js';
import { emit } from '../lib/child.js';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'sqlite' },
    'database-url': { type: 'string' },
    'pg-schema': { type: 'string' },
    analysts: { type: 'string', default: '1' },
    'rate-limits': { type: 'string' },
    /** Counts SQLite statements by text (a wrapper around prepare); for diagnosis, not for the numbers. */
    instrument: { type: 'boolean', default: false },
  },
});

const statements = new Map<string, number>();
/** CPU microseconds (user + system, this process) inside each statement's run/all/get: not inflated by a busy machine. */
const statementMicros = new Map<string, number>();
let statementTotal = 0;
if (values.instrument) {
  // Counts executions, not prepares: the broker caches prepared statements (storage/db.ts).
  const probe = new BetterSqlite3(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<'run' | 'all' | 'get' | 'iterate', (...a: unknown[]) => unknown> & { source?: string };
  probe.close();
  for (const m of ['run', 'all', 'get', 'iterate'] as const) {
    const orig = proto[m];
    proto[m] = function (this: { source: string }, ...a: unknown[]) {
      statementTotal++;
      const key = this.source.replace(/\s+/g, ' ').slice(0, 90);
      statements.set(key, (statements.get(key) ?? 0) + 1);
      const c0 = process.cpuUsage();
      try {
        return orig.apply(this, a);
      } finally {
        const d = process.cpuUsage(c0);
        statementMicros.set(key, (statementMicros.get(key) ?? 0) + d.user + d.system);
      }
    };
  }
}

try {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-bench-'));
  const postgres = values.engine === 'postgres';
  const rateLimits = values['rate-limits'] ? (JSON.parse(values['rate-limits']) as Partial<BrokerFile['rate_limits']>) : undefined;
  const b = await startBroker({
    dataDir,
    port: 0,
    databaseUrl: postgres ? values['database-url'] : undefined,
    pgSchema: postgres ? values['pg-schema'] : undefined,
    ...(rateLimits ? { file: { rate_limits: rateLimits as BrokerFile['rate_limits'] } } : {}),
  });
  const accounts: { username: string; roles: Role[]; access_token: string; private_jwk: import('node:crypto').JsonWebKey }[] = [];
  const wanted: { username: string; roles: Role[] }[] = [{ username: 'benchadmin', roles: ['admin'] }];
  for (let i = 0; i < Number(values.analysts); i++) wanted.push({ username: `analyst${i}`, roles: ['analyst'] });
  // In parallel: password hashing (scrypt) runs on the thread pool, so this takes a couple of hashes' time.
  const users = await Promise.all(wanted.map((w) => createUser(b, w.username, w.roles)));
  users.forEach((u, i) => {
    const w = wanted[i]!;
    accounts.push({ username: w.username, roles: w.roles, access_token: u.api.accessToken!, private_jwk: u.api.device.privateKey.export({ format: 'jwk' }) });
  });
  emit({ event: 'ready', url: b.url, pid: process.pid, engine: b.ctx.storage.engine, data_dir: dataDir, accounts });

  // SIGUSR2: report counters (statements run, audit events appended) so the parent can take deltas.
  process.on('SIGUSR2', () => {
    emit({ event: 'stats', statements: statementTotal, by_statement: Object.fromEntries(statements), micros_by_statement: Object.fromEntries(statementMicros), audit_appended: b.ctx.audit.appended });
  });

  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    const done = () => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    };
    setTimeout(done, 15_000).unref();
    b.close().then(done, (e: unknown) => {
      process.stderr.write(`broker close failed: ${String(e)}\n`);
      done();
    });
  });
} catch (e) {
  emit({ event: 'error', message: (e as Error).stack ?? String(e) });
  process.exit(1);
}
