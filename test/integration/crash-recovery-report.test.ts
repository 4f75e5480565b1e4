import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../main/clock.js';
import { FileGrantJournal, recoverAfterCrash } from '../../main/grant-journal.js';
import { GrantRegistry } from '../../main/grants.js';
import { ApiClient } from '../../kit/api.js';
import { createUser, startTestBroker, tempDir, type TestBroker, type TestUser } from '../../kit/broker.js';
import { DeviceKey } from '../../kit/device.js';
import { activeSession } from '../../kit/lifecycle.js';

describe('after a crash the next start revokes what was left and reports it to the broker', () => {
  let b: TestBroker;
  let analyst: TestUser;
  let dir: string;
  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    analyst = await createUser(b, 'alice', ['analyst']);
    dir = tempDir('chaperone-crash-');
  });
  afterAll(async () => {
    await b?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('grants journaled by a run that died are revoked at the next start and land in the audit chain', async () => {
    const s = await activeSession(b, analyst);
    const file = path.join(dir, 'grants.json');
    // The run that crashes: it holds capture and control, then vanishes without revoking.
    const before = new GrantRegistry({ clock: systemClock, journal: new FileGrantJournal(file) });
    before.openSession(s.id, Date.now() + 600_000);
    expect(before.acquire(s.id, 'capture', { userAction: true, expiresAt: Date.now() + 600_000, revoke: () => undefined }).ok).toBe(true);
    expect(before.acquire(s.id, 'control', { userAction: true, expiresAt: Date.now() + 600_000, revoke: () => undefined }).ok).toBe(true);

    // The next start: a registry refuses to start over the old journal until it is recovered.
    expect(() => new GrantRegistry({ clock: systemClock, journal: new FileGrantJournal(file) })).toThrow(/recoverAfterCrash/);
    const revokedKinds: string[] = [];
    const noop = (k: string) => () => void revokedKinds.push(k);
    const recovered = await recoverAfterCrash(new FileGrantJournal(file), { capture: noop('capture'), control: noop('control'), clipboard: noop('clipboard'), files: noop('files') });
    expect(recovered.map((r) => [r.sessionId, r.kind, r.confirmed]).sort()).toEqual([
      [s.id, 'capture', true],
      [s.id, 'control', true],
    ]);
    expect(revokedKinds.sort()).toEqual(['capture', 'control']);
    expect(() => new GrantRegistry({ clock: systemClock, journal: new FileGrantJournal(file) })).not.toThrow();

    const revoked = recovered.map((r) => r.kind);
    const report = { session_id: s.id, revoked, after_crash: true, receipt: await s.endUser.device.teardownReceipt(s.id, revoked, true) };
    const stranger = await new ApiClient(b.url, new DeviceKey()).post('/api/v1/join/teardown-report', report);
    expect(stranger.status).toBe(403);
    const res = await s.endUser.post('/api/v1/join/teardown-report', report);
    expect(res.status).toBe(200);
    await b.ctx.audit.flush();
    const ev = await b.ctx.storage.db.selectFrom('audit_events').select(['type', 'meta']).where('session_id', '=', s.id).where('type', 'like', 'client.teardown_report%').orderBy('seq').execute();
    expect(ev.map((e) => e.type)).toEqual(['client.teardown_report_refused', 'client.teardown_report']);
    expect(JSON.parse(ev[1]!.meta)).toEqual({ revoked: ['capture', 'control'], after_crash: true, receipt: report.receipt });
  });
});
