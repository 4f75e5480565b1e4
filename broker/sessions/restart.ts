import { isGrantable, type Capability, type GrantableCapability } from '../../common/capabilities.js';
import type { SessionCore } from './core.js';
import { overdue } from './deadlines.js';
import { endSession } from './ending.js';
import { track } from './tracking.js';
import { scheduleTimers } from './timers.js';
import { SYSTEM } from './types.js';
import { resumeRecordingWatch } from './recording.js';
import { loadWatch } from './watchers.js';

/**
 * After a restart: reload every session that had not ended. Anything past its deadline (the same
 * table the timers use) ends now; an active one resumes within its original expiry. Grant
 * requests that were waiting for an answer are dropped, so no grant appears without the end
 * user's click.
 */
export async function resumeAfterRestart(core: SessionCore): Promise<{ resumed: number; ended: number }> {
  const rows = await core.db.selectFrom('sessions').selectAll().where('state', '!=', 'ended').execute();
  let ended = 0;
  const now = core.clock.now();
  await core.db.updateTable('grants').set({ state: 'denied', decided_at: now }).where('state', '=', 'requested').execute();
  // A request for more time lived in memory with its session; after a restart nobody can decide
  // it, so it lapses (and leaves the approvers' list). The analyst may ask again.
  await core.db.updateTable('extensions').set({ state: 'lapsed', decided_at: now }).where('state', 'in', ['awaiting_approval', 'awaiting_consent']).execute();
  for (const r of rows) {
    const analyst = await core.db.selectFrom('accounts').select('username').where('id', '=', r.analyst_id).executeTakeFirst();
    const live = track(core, r, analyst?.username ?? '');
    if (r.state === 'active') {
      const grants = await core.db.selectFrom('grants').select('capability').where('session_id', '=', r.id).where('state', '=', 'granted').execute();
      for (const g of grants) if (isGrantable(g.capability as Capability)) live.granted.add(g.capability as GrantableCapability);
    }
    const late = overdue(r, now);
    if (late) {
      await endSession(core, r.id, late.reason, SYSTEM, {}, { why: 'deadline passed while the broker was down' }).catch(() => undefined);
      ended++;
    } else {
      scheduleTimers(core, live, r);
      if (r.state === 'active') {
        await resumeRecordingWatch(core, live);
        await loadWatch(core, live, r);
      }
    }
  }
  await core.audit.append({ type: 'broker.resumed', outcome: 'success', actor: 'system', meta: { resumed: rows.length - ended, ended } });
  return { resumed: rows.length - ended, ended };
}
