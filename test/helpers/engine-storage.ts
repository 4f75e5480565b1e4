import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { PG_URL, dropSchema } from '../../kit/broker.js';
import { openStorage, type Storage } from '../../broker/storage/db.js';

/**
 * Storage on `engine` for the tests of one describe block: a fresh data dir (and, on PostgreSQL, a
 * schema of its own) opened before them and removed after. Call inside the describe; the getter
 * gives the open storage.
 */
export function storageFor(engine: 'sqlite' | 'postgres', prefix: string): () => Storage {
  let s: Storage | null = null;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `chaperone-${prefix}-`));
  const pgSchema = engine === 'postgres' ? `t_${crypto.randomBytes(6).toString('hex')}` : undefined;
  beforeAll(async () => {
    s = await openStorage({ dataDir, databaseUrl: engine === 'postgres' ? PG_URL : undefined, pgSchema });
  });
  afterAll(async () => {
    await s?.close();
    if (pgSchema) await dropSchema(pgSchema);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return () => {
    if (!s) throw new Error('the storage is not open yet (use it inside a test)');
    return s;
  };
}
