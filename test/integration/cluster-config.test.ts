import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../kit/broker.js';

describe('cluster mode needs PostgreSQL', () => {
  it('serve with REDIS_URL on SQLite refuses to start and says what to do', () => {
    const dataDir = tempDir();
    try {
      const env = { ...process.env, REDIS_URL: 'redis://127.0.0.1:6379', CHAPERONE_LOG_LEVEL: 'silent' } as NodeJS.ProcessEnv;
      delete env.DATABASE_URL;
      const r = spawnSync(process.execPath, ['bin/chaperone-broker.mjs', 'serve', '--port', '0', '--data-dir', dataDir], { env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('cluster mode (REDIS_URL is set) needs PostgreSQL');
      expect(r.stderr).toContain('DATABASE_URL=postgres://');
      // Nothing was started: no database file was made.
      expect(fs.existsSync(`${dataDir}/chaperone.sqlite`)).toBe(false);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, 90_000);
});
