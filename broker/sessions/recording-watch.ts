import type { RecordingMode } from '../../common/recording.js';
import { DomainError } from '../domain-errors.js';
import type { SessionCore } from './core.js';
import { endSession } from './ending.js';
import type { LiveRecording, LiveSession } from './live.js';
import { SYSTEM } from './types.js';

/**
 * Fail closed: when policy says a session's recording is `required`, the broker, which is where
 * acks come from, watches the time since the last acked chunk. Past `stall_suspend_seconds`
 * control is taken back (both sides get `grant.changed` with reason `recording_stalled`, and a
 * new request for control is refused until a chunk is acked again); past `stall_end_seconds` the
 * session ends as `recording_failed`. Both are audited. Decided from the clock port, so a test
 * that breaks the storage port sees it happen without a fake recorder.
 */
export function watchRecording(core: SessionCore, live: LiveSession, mode: RecordingMode): LiveRecording {
  const p = core.cfg.policy.recordings;
  let cancels: (() => void)[] = [];
  const rec: LiveRecording = {
    mode,
    lastAckAt: core.clock.now(),
    suspended: false,
    acked(now: number) {
      rec.lastAckAt = now;
      if (rec.suspended) {
        rec.suspended = false;
        core.audit.record({ type: 'recording.resumed', outcome: 'success', ...SYSTEM, session_id: live.id, ticket: live.ticket, meta: { mode } });
      }
      arm();
    },
    stop() {
      for (const c of cancels) c();
      cancels = [];
    },
  };
  const guard = (fn: () => Promise<unknown>) => () => {
    fn().catch((err: unknown) => {
      if (!(err instanceof DomainError)) process.stderr.write(`recording watch failed: ${String(err)}\n`);
    });
  };
  const arm = () => {
    rec.stop();
    if (mode !== 'required' || live.state !== 'active') return;
    const from = rec.lastAckAt;
    cancels.push(core.clock.at(from + p.stall_suspend_seconds * 1000, guard(() => suspend(core, live, rec, p.stall_suspend_seconds))));
    cancels.push(
      core.clock.at(
        from + p.stall_end_seconds * 1000,
        guard(() => endSession(core, live.id, 'recording_failed', SYSTEM, {}, { why: `no recording chunk acked for ${p.stall_end_seconds} s`, mode })),
      ),
    );
  };
  arm();
  return rec;
}

async function suspend(core: SessionCore, live: LiveSession, rec: LiveRecording, seconds: number): Promise<void> {
  if (rec.suspended || live.state !== 'active') return;
  rec.suspended = true;
  const hadControl = live.granted.delete('control');
  await core.audit.append({ type: 'recording.stalled', outcome: 'failure', ...SYSTEM, session_id: live.id, ticket: live.ticket, meta: { seconds, control_revoked: hadControl } });
  if (!hadControl) return;
  const now = core.clock.now();
  await core.db.updateTable('grants').set({ state: 'revoked', revoked_at: now, revoked_by: 'broker' }).where('session_id', '=', live.id).where('capability', '=', 'control').where('state', '=', 'granted').execute();
  await core.audit.append({ type: 'grant.revoked', outcome: 'success', ...SYSTEM, session_id: live.id, ticket: live.ticket, meta: { capability: 'control', by: 'broker', why: 'recording_stalled' } });
  core.events?.grantChanged(live, 'control', false, 'broker', undefined, 'recording_stalled');
}
