import type { Selectable } from 'kysely';
import crypto from 'node:crypto';
import { MANIFEST_TYP, RECORDING_TIMESLICE_MS, type RecordingManifest, type RecordingMode } from '../../common/recording.js';
import { signJws } from '../auth/jws.js';
import { chunkObjectName, MANIFEST_OBJECT, PLAYABLE_OBJECT } from '../storage/recording-store.js';
import { prepared } from '../storage/prepared.js';
import type { RecordingsTable } from '../storage/schema.js';
import type { SessionCore } from './core.js';
import { SYSTEM } from './types.js';
import { seekableWebm } from './webm-seekable.js';
import { sweepRecordings } from './recording-retention.js';

export const RECORDING_MIME = 'video/webm';

// What every finalisation reads and writes, compiled once (storage/prepared.ts).
const recordingOf = prepared<{ sid: string }, Selectable<RecordingsTable>>((db, p) => db.selectFrom('recordings').selectAll().where('session_id', '=', p('sid')));
const endOf = prepared<{ sid: string }, { ticket_ref: string; end_reason: string | null }>((db, p) => db.selectFrom('sessions').select(['ticket_ref', 'end_reason']).where('id', '=', p('sid')));
const chunksOf = prepared<{ sid: string }, { seq: number; bytes: number; sha256: string; received_at: number }>((db, p) =>
  db.selectFrom('recording_chunks').select(['seq', 'bytes', 'sha256', 'received_at']).where('session_id', '=', p('sid')).orderBy('seq'),
);
const markFinalised = prepared<{ sid: string; sha: string; how: RecordingManifest['finalised']; now: number }, never>((db, p) =>
  db.updateTable('recordings').set({ state: 'finalised', manifest_sha256: p('sha'), finalised: p('how'), finalised_at: p('now') }).where('session_id', '=', p('sid')),
);
// At the end only a recording still recording is claimed; after a restart also one whose finalisation the crash cut.
const claimAtEnd = prepared<{ sid: string }, never>((db, p) => db.updateTable('recordings').set({ state: 'finalising' }).where('session_id', '=', p('sid')).where('state', 'in', ['recording']));
const claimAfterRestart = prepared<{ sid: string }, never>((db, p) =>
  db.updateTable('recordings').set({ state: 'finalising' }).where('session_id', '=', p('sid')).where('state', 'in', ['recording', 'finalising']),
);
const sha256hex = (b: Buffer | string): string => crypto.createHash('sha256').update(b).digest('hex');

/**
 * Closes a recording: the manifest (session, every chunk with its length and sha256, first and
 * last times, duration, how it was finalised) signed with the broker's active key as a compact
 * JWS, stored beside the chunks, its sha256 chained as `recording.finalised`. `after_restart`
 * says the broker was not running when the session ended (a crash cut the recording), so the
 * last seconds before the cut may be missing; the chunks it has are still each in the chain.
 * Claimed by one conditional update, so two brokers (or a restart racing an end) sign it once.
 */
export async function finaliseRecording(core: SessionCore, sessionId: string, how: RecordingManifest['finalised']): Promise<RecordingManifest | null> {
  const claim = await (how === 'at_end' ? claimAtEnd : claimAfterRestart).run(core.db, { sid: sessionId });
  if (Number(claim.numAffectedRows) !== 1) return null;
  const rec = await recordingOf.first(core.db, { sid: sessionId });
  const row = await endOf.first(core.db, { sid: sessionId });
  if (!rec || !row) throw new Error(`recording of session ${sessionId} claimed but not found`);
  const chunks = await chunksOf.all(core.db, { sid: sessionId });
  const parts: Buffer[] = [];
  for (const c of chunks) {
    const b = await core.recordings.get(sessionId, chunkObjectName(c.seq, c.sha256));
    if (b) parts.push(b);
  }
  const playable = chunks.length > 0 && parts.length === chunks.length ? seekableWebm(Buffer.concat(parts)) : null;
  if (playable) await core.recordings.put(sessionId, PLAYABLE_OBJECT, playable.bytes);
  const first = chunks[0]?.received_at ?? null;
  const last = chunks[chunks.length - 1]?.received_at ?? null;
  const now = core.clock.now();
  const manifest: RecordingManifest = {
    session_id: sessionId,
    ticket: row.ticket_ref,
    mode: rec.mode as RecordingMode,
    mime: RECORDING_MIME,
    chunks: chunks.map((c) => ({ seq: c.seq, bytes: c.bytes, sha256: c.sha256, received_at: c.received_at })),
    total_bytes: chunks.reduce((n, c) => n + c.bytes, 0),
    first_at: first,
    last_at: last,
    // The decoded duration when the chunks make a readable WebM; otherwise the span they arrived over.
    duration_ms: playable?.durationMs ?? (first !== null && last !== null ? last - first + RECORDING_TIMESLICE_MS : 0),
    finalised: how,
    finalised_at: now,
    session_end_reason: row.end_reason,
    playable_sha256: playable ? sha256hex(playable.bytes) : null,
  };
  const k = core.keys.active;
  const jws = signJws({ typ: MANIFEST_TYP, kid: k.kid }, manifest as unknown as Record<string, unknown>, k.privateKey);
  await core.recordings.put(sessionId, MANIFEST_OBJECT, Buffer.from(jws));
  const manifestSha = sha256hex(jws);
  await markFinalised.run(core.db, { sid: sessionId, sha: manifestSha, how, now });
  await core.audit.append({
    type: 'recording.finalised',
    outcome: 'success',
    ...SYSTEM,
    session_id: sessionId,
    ticket: row.ticket_ref,
    meta: { manifest_sha256: manifestSha, chunks: chunks.length, bytes: manifest.total_bytes, duration_ms: manifest.duration_ms, finalised: how, kid: k.kid },
  });
  // A new recording may push the total past the quota.
  await sweepRecordings(core);
  return manifest;
}

/** At start: every recording whose session has ended but which no manifest closed (the broker was down). */
export async function finaliseCutRecordings(core: SessionCore): Promise<number> {
  const rows = await core.db
    .selectFrom('recordings')
    .innerJoin('sessions', 'sessions.id', 'recordings.session_id')
    .select('recordings.session_id')
    .where('recordings.state', 'in', ['recording', 'finalising'])
    .where('sessions.state', '=', 'ended')
    .execute();
  let n = 0;
  for (const r of rows) if (await finaliseRecording(core, r.session_id, 'after_restart')) n++;
  return n;
}
