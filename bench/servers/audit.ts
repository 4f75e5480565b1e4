// Child: audit append and verify rates on SQLite, in a process of its own.
// Appends N events with N concurrent `append` calls, times until every one has resolved (that is,
// committed in a signed batch), closes the log, then times verifyStoredLog over the stored log.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { AuditLog } from '../../broker/audit/log.js';
import { KeyRing } from '../../broker/keys.js';
import { openStorage } from '../../broker/storage/db.js';
import { emit } from '../lib/child.js';

const { values } = parseArgs({ options: { events: { type: 'string', default: '50000' }, 'verify-module': { type: 'string' } } });
const N = Number(values.events);
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-bench-audit-'));
try {
  const storage = await openStorage({ dataDir });
  const { ring } = KeyRing.load(dataDir, 3_600_000);
  const log = new AuditLog(storage, ring, dataDir);
  await log.append({ type: 'broker.started', outcome: 'success', actor: 'system', meta: {} });
  const sessions = Array.from({ length: 64 }, () => crypto.randomUUID());
  const t0 = performance.now();
  const all: Promise<unknown>[] = new Array(N);
  for (let i = 0; i < N; i++) {
    all[i] = log.append({
      type: 'signaling.connected',
      outcome: 'success',
      actor: `account:analyst${i % 8}`,
      source: '127.0.0.1',
      session_id: sessions[i % sessions.length]!,
      ticket: `INC-${100000 + (i % 5000)}`,
      meta: { role: i % 2 ? 'analyst' : 'end_user', jti: `j${i}` },
    });
  }
  await Promise.all(all);
  const appendMs = performance.now() - t0;
  await log.close();
  await storage.close();

  let verify: Record<string, unknown> = { available: false };
  const modPath = values['verify-module'];
  if (modPath && fs.existsSync(modPath)) {
    const mod = (await import(pathToFileURL(modPath).href)) as { verifyStoredLog?: (o: { dataDir: string }) => Promise<unknown> };
    if (typeof mod.verifyStoredLog === 'function') {
      const v0 = performance.now();
      const result = (await mod.verifyStoredLog({ dataDir })) as Record<string, unknown>;
      const verifyMs = performance.now() - v0;
      const events = typeof result.events === 'number' ? result.events : N + 1;
      verify = { available: true, ms: verifyMs, events, per_s: events / (verifyMs / 1000), ok: result.ok, result: JSON.stringify(result).slice(0, 500) };
    }
  }
  // Clean up before reporting: the parent stops this process as soon as it has the result.
  fs.rmSync(dataDir, { recursive: true, force: true });
  emit({ event: 'result', events: N, append_ms: appendMs, append_per_s: N / (appendMs / 1000), verify });
  process.exit(0);
} catch (e) {
  fs.rmSync(dataDir, { recursive: true, force: true });
  emit({ event: 'error', message: (e as Error).stack ?? String(e) });
  process.exit(1);
}
