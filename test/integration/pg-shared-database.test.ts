import crypto from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openStorage } from '../../broker/storage/db.js';
import { PG_URL, dropSchema, tempDir } from '../../kit/broker.js';

/**
 * A broker on a PostgreSQL database that other tools share: schemas made and dropped by others
 * while it starts do not stop its migrations. Kysely's own introspector scans every schema's
 * tables, and one dropped mid-scan failed it with "schema ... does not exist" (seen in CI when
 * parallel tests dropped theirs, and again through five retries); the broker's looks only at its
 * own schema (broker/storage/pg-own-schema.ts).
 */
describe('a broker starting while others drop their schemas on the same database', () => {
  it('migrates every time', { timeout: 120_000 }, async () => {
    const churn = new pg.Client({ connectionString: PG_URL });
    await churn.connect();
    let running = true;
    const others = (async () => {
      while (running) {
        const name = `churn_${crypto.randomBytes(5).toString('hex')}`;
        await churn.query(`CREATE SCHEMA ${name}`);
        await churn.query(`CREATE TABLE ${name}.t (a int, b text, c bigint)`);
        await churn.query(`DROP SCHEMA ${name} CASCADE`);
      }
    })();
    const dir = tempDir();
    const failures: string[] = [];
    try {
      for (let i = 0; i < 12; i++) {
        const schema = `t_${crypto.randomBytes(6).toString('hex')}`;
        try {
          const storage = await openStorage({ dataDir: dir, databaseUrl: PG_URL, pgSchema: schema });
          await storage.close();
        } catch (e) {
          failures.push(String(e));
        } finally {
          await dropSchema(schema);
        }
      }
    } finally {
      running = false;
      await others;
      await churn.end();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(failures).toEqual([]);
  });
});
