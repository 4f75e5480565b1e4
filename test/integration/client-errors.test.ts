import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../broker/storage/db.js';
import { tempDir } from '../../kit/broker.js';
import { SignalingClient, maskedTextFrame } from '../../kit/signaling-client.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'chaperone-broker.mjs');

/** A raw client frame with any opcode and mask bit, for frames the ws client will not send. */
function rawFrame(opcode: number, payload: Buffer, masked = true): Buffer {
  if (!masked) return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
  const f = maskedTextFrame(payload);
  f[0] = 0x80 | opcode;
  return f;
}

/**
 * What a client gets wrong is the client's problem: it is refused and audited like every other
 * refusal, and the broker's log says so at warn, in one line, without a stack trace (an error
 * with a stack means the broker itself went wrong). A broker served as operators run it.
 */
describe('client-caused errors: refused, audited, logged at warn without a stack', { timeout: 90_000 }, () => {
  let dir: string;
  let url: string;
  let log = '';
  let stop: () => Promise<void>;

  beforeAll(async () => {
    dir = tempDir('chaperone-client-errors-');
    const env: NodeJS.ProcessEnv = { ...process.env, CHAPERONE_LOG_LEVEL: 'info' };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data-dir', dir], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((r) => child.on('close', () => r()));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (log += c));
    url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`serve did not start: ${log}`)), 45_000);
      child.stdout.setEncoding('utf8').on('data', (c: string) => {
        log += c;
        const m = /listening on (https?:\/\/\S+)/.exec(log);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    stop = async () => {
      child.kill('SIGTERM');
      await exited;
    };
  });
  afterAll(async () => {
    await stop?.().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const closeWith = async (bytes: Buffer): Promise<number> => {
    const c = await SignalingClient.open(url);
    await c.nextOfType('challenge');
    (c.ws as unknown as { _socket: import('node:net').Socket })._socket.write(bytes);
    return c.closed();
  };

  it('a text frame that is not UTF-8 closes with 1007; a frame breaking the protocol with 1002; too big with 1009', async () => {
    expect(await closeWith(maskedTextFrame(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])))).toBe(1007);
    expect(await closeWith(rawFrame(0x3, Buffer.from('{}')))).toBe(1002);
    expect(await closeWith(rawFrame(0x1, Buffer.from('{}'), false))).toBe(1002);
    expect(await closeWith(maskedTextFrame(Buffer.alloc(70 * 1024, 0x20)))).toBe(1009);
    // And the HTTP side's usual client mistakes.
    await fetch(`${url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":' });
    await fetch(`${url}/api/v1/sessions/%E0%A4%A`);
    await fetch(`${url}/api/v1/join`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
    await fetch(`${url}/api/v1/me`);
  });

  it('each of them is in the audit log as signaling.frame_refused with its code', async () => {
    await stop();
    const storage = await openStorage({ dataDir: dir });
    try {
      const rows = await storage.db.selectFrom('audit_events').select('meta').where('type', '=', 'signaling.frame_refused').execute();
      const codes = rows.map((r) => (JSON.parse(r.meta) as { code: string }).code);
      expect(codes).toEqual(expect.arrayContaining(['invalid_utf8', 'protocol_error', 'frame_too_large']));
      expect(codes.filter((c) => c === 'protocol_error').length + rows.reduce((n, r) => n + ((JSON.parse(r.meta) as { suppressed?: number }).suppressed ?? 0), 0)).toBeGreaterThanOrEqual(2);
    } finally {
      await storage.close();
    }
  });

  it('the log has them at warn at most, and no stack trace', () => {
    const lines = log.split('\n').filter((l) => l.startsWith('{'));
    expect(lines.length).toBeGreaterThan(0);
    const entries = lines.map((l) => JSON.parse(l) as { level: number; msg?: string; err?: { stack?: string } });
    const loud = entries.filter((e) => e.level >= 50);
    expect(loud.map((e) => e.msg)).toEqual([]);
    expect(log).not.toMatch(/\n\s+at [^\n]+\(.*:\d+:\d+\)/);
    expect(log).not.toContain('"stack"');
    expect(entries.some((e) => e.level === 40 && /UTF-8/i.test(e.msg ?? ''))).toBe(true);
  });
});
