import type { SessionCore } from './core.js';
import { SYSTEM } from './types.js';

const DAY_MS = 86_400_000;

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
  const kept = await core.db.selectFrom('recordings').select(['session_id', 'bytes', 'finalised_at', 'manifest_sha256']).where('state', '=', 'finalised').orderBy('finalised_at').execute();
  let total = kept.reduce((n, r) => n + Number(r.bytes), 0);
  const quota = p.quota_mb * 1024 * 1024;
  let deleted = 0;
  for (const r of kept) {
    const old = (r.finalised_at ?? now) < now - p.retention_days * DAY_MS;
    if (!old && total <= quota) continue;
    const claim = await core.db.updateTable('recordings').set({ state: 'deleted', deleted_at: now }).where('session_id', '=', r.session_id).where('state', '=', 'finalised').executeTakeFirst();
    if (Number(claim.numUpdatedRows) !== 1) continue;
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
