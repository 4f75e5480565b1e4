import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../main/clock.js';
import { FileGrantJournal, recoverAfterCrash } from '../../main/grant-journal.js';
import { GrantRegistry, type GrantKind, type JournalEntry } from '../../main/grants.js';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * A main process that takes grants and is then killed with SIGKILL: no exit handler, no teardown,
 * exactly what a crash leaves behind.
 */
function crashAfterGranting(
  file: string,
  sessionId: string,
  kinds: GrantKind[],
  before: { revoke?: GrantKind[]; failing?: GrantKind[] } = {},
): Promise<{ signal: string | null; stdout: string }> {
  const code = `
    import { FileGrantJournal } from ${JSON.stringify(path.join(root, 'main/grant-journal.ts'))};
    import { GrantRegistry } from ${JSON.stringify(path.join(root, 'main/grants.ts'))};
    import { systemClock } from ${JSON.stringify(path.join(root, 'main/clock.ts'))};
    const registry = new GrantRegistry({ clock: systemClock, journal: new FileGrantJournal(${JSON.stringify(file)}) });
    registry.openSession(${JSON.stringify(sessionId)}, Date.now() + 3600000);
    for (const kind of ${JSON.stringify(kinds)}) {
      const r = registry.acquire(${JSON.stringify(sessionId)}, kind, { userAction: true, expiresAt: Date.now() + 600000, revoke: () => { if (${JSON.stringify(before.failing ?? [])}.includes(kind)) throw new Error('stuck'); } });
      if (!r.ok) throw new Error(r.reason);
    }
    for (const kind of ${JSON.stringify(before.revoke ?? [])}) await registry.revoke(kind);
    process.stdout.write('granted\\n');
    process.kill(process.pid, 'SIGKILL');
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.once('error', reject);
    child.once('exit', (_code, signal) => resolve({ signal, stdout }));
  });
}

describe('FileGrantJournal', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-journal-'));
    file = path.join(dir, 'grants.json');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const entry = (kind: GrantKind, state: JournalEntry['state'] = 'live'): JournalEntry => ({ sessionId: 's1', kind, grantedAt: 1, expiresAt: 2, state });

  it('round-trips entries through a 0600 file replaced by rename, leaving no temp files', () => {
    const j = new FileGrantJournal(file);
    expect(j.load()).toEqual({ ok: true, entries: [] });
    j.save([entry('capture')]);
    const ino = fs.statSync(file).ino;
    j.save([entry('capture'), entry('control', 'revoking')]);
    expect(fs.statSync(file).ino).not.toBe(ino);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(j.load()).toEqual({ ok: true, entries: [entry('capture'), entry('control', 'revoking')] });
    expect(fs.readdirSync(dir)).toEqual(['grants.json']);
  });

  it('reports a corrupt, foreign or oversized journal as unreadable', () => {
    const j = new FileGrantJournal(file);
    for (const text of ['{"version":1,"grants":[', '[]', '{"version":2,"grants":[]}', JSON.stringify({ version: 1, grants: [{ ...entry('capture'), kind: 'keylogger' }] })]) {
      fs.writeFileSync(file, text);
      expect(j.load().ok).toBe(false);
    }
    fs.writeFileSync(file, ' '.repeat(70_000));
    expect(j.load()).toMatchObject({ ok: false, why: expect.stringMatching(/bytes/) });
  });
});

describe('recoverAfterCrash', () => {
  let dir: string;
  let file: string;
  let calls: GrantKind[];
  const revokers = (failing: GrantKind[] = []) =>
    Object.fromEntries(
      (['capture', 'control', 'clipboard', 'files'] as const).map((kind) => [
        kind,
        async () => {
          calls.push(kind);
          if (failing.includes(kind)) throw new Error(`${kind} would not stop`);
        },
      ]),
    ) as Record<GrantKind, () => Promise<void>>;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-recover-'));
    file = path.join(dir, 'grants.json');
    calls = [];
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('after a real crash, revokes what was left, reports it, and lets a new registry start', async () => {
    const crash = await crashAfterGranting(file, 'sess-crashed', ['capture', 'control', 'files']);
    expect(crash).toEqual({ signal: 'SIGKILL', stdout: 'granted\n' });

    const journal = new FileGrantJournal(file);
    expect(() => new GrantRegistry({ clock: systemClock, journal })).toThrow(/recoverAfterCrash/);

    const recovered = await recoverAfterCrash(journal, revokers());
    expect(recovered).toEqual([
      { sessionId: 'sess-crashed', kind: 'capture', confirmed: true },
      { sessionId: 'sess-crashed', kind: 'control', confirmed: true },
      { sessionId: 'sess-crashed', kind: 'files', confirmed: true },
    ]);
    expect(calls).toEqual(['capture', 'control', 'files']);
    expect(journal.load()).toEqual({ ok: true, entries: [] });

    const registry = new GrantRegistry({ clock: systemClock, journal });
    registry.openSession('sess-next', Date.now() + 60_000);
    expect(registry.acquire('sess-next', 'capture', { userAction: true, expiresAt: Date.now() + 60_000, revoke: () => {} }).ok).toBe(true);
    expect(await recoverAfterCrash(new FileGrantJournal(path.join(dir, 'other.json')), revokers())).toEqual([]);
  });

  it('recovers a grant whose revoke function failed before the crash, but not one revoked cleanly', async () => {
    await crashAfterGranting(file, 'sess-a', ['clipboard', 'control', 'files'], { revoke: ['control', 'files'], failing: ['files'] });
    const journal = new FileGrantJournal(file);
    const loaded = journal.load();
    expect(loaded.ok && loaded.entries.map((e) => [e.kind, e.state])).toEqual([
      ['clipboard', 'live'],
      ['files', 'unconfirmed'],
    ]);
    expect((await recoverAfterCrash(journal, revokers())).map((r) => r.kind)).toEqual(['clipboard', 'files']);
  });

  it('reports a revoker that throws as unconfirmed, and still clears the journal', async () => {
    const journal = new FileGrantJournal(file);
    journal.save([{ sessionId: 's9', kind: 'capture', grantedAt: 1, expiresAt: 2, state: 'live' }]);
    expect(await recoverAfterCrash(journal, revokers(['capture']))).toEqual([{ sessionId: 's9', kind: 'capture', confirmed: false }]);
    expect(journal.load()).toEqual({ ok: true, entries: [] });
  });

  it('revokes every kind when the journal is unreadable (fail closed)', async () => {
    fs.writeFileSync(file, '{"version":1,"grants":[{"sessionId":"s1","ki');
    const recovered = await recoverAfterCrash(new FileGrantJournal(file), revokers());
    expect(recovered).toEqual([
      { sessionId: null, kind: 'capture', confirmed: true },
      { sessionId: null, kind: 'control', confirmed: true },
      { sessionId: null, kind: 'clipboard', confirmed: true },
      { sessionId: null, kind: 'files', confirmed: true },
    ]);
    expect(new FileGrantJournal(file).load()).toEqual({ ok: true, entries: [] });
  });
});
