import { prepared } from '../storage/prepared.js';
import type { SessionCore } from './core.js';
import { finalisedBytes } from './recording-totals.js';
import { SYSTEM } from './types.js';

const DAY_MS = 86_400_000;

type Kept = { session_id: string; bytes: number; finalised_at: number | null; manifest_sha256: string | null };

const pastRetention = prepared<{ cutoff: number }, Kept>((db, p) =>
  db.selectFrom('recordings').select(['session_id', 'bytes', 'finalised_at', 'manifest_sha256']).where('state', '=', 'finalised').where('finalised_at', '<', p('cutoff')).orderBy('finalised_at'),
);
const claimDeletion = prepared<{ sid: string; now: number }, never>((db, p) =>
  db.updateTable('recordings').set({ state: 'deleted', deleted_at: p('now') }).where('session_id', '=', p('sid')).where('state', '=', 'finalised'),
);

/**
 * Retention: finalised recordings older than `recordings.retention_days` are deleted, and past
 * `recordings.quota_mb` the oldest go first. The bytes go; the row, the chunk list and every
 * event stay, and `recording.deleted` is chained with the manifest hash, so an export says the
 * recording was deleted, not that it was tampered with. Run after each finalisation, at start
 * and hourly.
 */
export async function sweepRecordings(core: SessionCore): Promise<number> {
  const p = core.cfg.policy.recordings;
  const now = core.clock.now();
  const cutoff = now - p.retention_days * DAY_MS;
  // This runs after every finalisation, and the finalised rows grow with the broker's history:
  // the total is a stored running total (recording-totals.ts, kept by triggers), and rows are read only when some
  // must go (past the retention, by index, or all of them oldest first while over the quota).
  let total = await finalisedBytes(core.db);
  const quota = p.quota_mb * 1024 * 1024;
  const kept =
    total <= quota
      ? await pastRetention.all(core.db, { cutoff })
      : await core.db.selectFrom('recordings').select(['session_id', 'bytes', 'finalised_at', 'manifest_sha256']).where('state', '=', 'finalised').orderBy('finalised_at').execute();
  let deleted = 0;
  for (const r of kept) {
    const old = (r.finalised_at ?? now) < cutoff;
    if (!old && total <= quota) continue;
    const claim = await claimDeletion.run(core.db, { sid: r.session_id, now });
    if (Number(claim.numAffectedRows) !== 1) continue;
    await core.recordings.removeAll(r.session_id);
    total -= Number(r.bytes);
    deleted++;
    await core.audit.append({
      type: 'recording.deleted',
      outcome: 'success',
      ...SYSTEM,
      session_id: r.session_id,
      meta: { why: old ? 'retention' : 'quota', bytes: Number(r.bytes), manifest_sha256: r.manifest_sha256 },
    });
  }
  return deleted;
}
