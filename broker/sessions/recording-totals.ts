import type { Kysely } from 'kysely';
import { prepared } from '../storage/prepared.js';
import type { Database } from '../storage/schema.js';

/**
 * The bytes of all finalised recordings: one stored row that triggers keep in the statement that
 * changes a recording's state or bytes (migration 0013), read instead of summing every recording
 * the broker ever kept, which retention would otherwise do after each finalisation.
 */
const readTotal = prepared<Record<string, never>, { finalised_bytes: number | string }>((db) => db.selectFrom('recording_totals').select('finalised_bytes').where('id', '=', 'recordings'));

export async function finalisedBytes(db: Kysely<Database>): Promise<number> {
  return Number((await readTotal.first(db, {}))?.finalised_bytes ?? 0);
}
