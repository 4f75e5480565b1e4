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
  const cutoff = now - p.retention_days * DAY_MS;
  // This runs after every finalisation, and the finalised rows grow with the broker's history:
  // the total is summed by the database, and rows are read only when some must go (past the
  // retention, or all of them oldest first while the total is over the quota).
  const sum = await core.db.selectFrom('recordings').select((eb) => eb.fn.sum<number | string | null>('bytes').as('total')).where('state', '=', 'finalised').executeTakeFirst();
  let total = Number(sum?.total ?? 0);
  const quota = p.quota_mb * 1024 * 1024;
  let q = core.db.selectFrom('recordings').select(['session_id', 'bytes', 'finalised_at', 'manifest_sha256']).where('state', '=', 'finalised');
  if (total <= quota) q = q.where('finalised_at', '<', cutoff);
  const kept = await q.orderBy('finalised_at').execute();
  let deleted = 0;
  for (const r of kept) {
    const old = (r.finalised_at ?? now) < cutoff;
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
