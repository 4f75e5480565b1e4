import crypto from 'node:crypto';
import { MAX_CHUNK_BYTES, MAX_CHUNKS_PER_SESSION, recordingModeFor, type ChunkAck, type RecordingMode } from '../../common/recording.js';
import { chunkObjectName } from '../storage/recording-store.js';
import { insertRow } from '../storage/prepared.js';
import { badRequest, conflict, forbidden, unavailable, type DomainError } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import type { LiveSession } from './live.js';
import { readRow } from './queries.js';
import { endUserActor, type Actor } from './types.js';
import { watchRecording } from './recording-watch.js';

const sha256hex = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** The session's recording mode, as the signed offer states it (offer.ts) and the receipt repeats. */
export function sessionRecordingMode(core: SessionCore, r: Pick<Row, 'capabilities'>): RecordingMode {
  return recordingModeFor(core.cfg.policy.recordings, r.capabilities.split(',') as never);
}

/** At activation: a recording row the chunks will advance, and the stall watch for `required`. */
export async function openRecording(core: SessionCore, live: LiveSession, r: Row, actor: Actor): Promise<void> {
  const mode = sessionRecordingMode(core, r);
  live.recording?.stop();
  live.recording = null;
  if (mode === 'off') return;
  await insertRow(
    core.db,
    'recordings',
    { session_id: r.id, mode, state: 'recording', next_seq: 0, chunks: 0, bytes: 0, first_at: null, last_at: null, manifest_sha256: null, finalised: null, finalised_at: null, deleted_at: null, next_transcript_seq: 0 },
    'session_id',
  );
  await core.audit.append({ type: 'recording.started', outcome: 'success', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { mode } });
  live.recording = watchRecording(core, live, mode);
}

export interface ChunkUpload {
  sessionId: string;
  seq: number;
  /** What the client says the chunk is: checked against the bytes that arrived. */
  declaredBytes: number;
  declaredSha256: string;
  body: Buffer;
  /** The session token's id and the device key it is bound to (checked by the door). */
  jti: string;
  jkt: string;
  source: string | null;
}

/**
 * One chunk of the end user's recording: checked (the end user's token and device, the session
 * active, seq next in line, length and sha256 as declared, within the bounds), stored through the
 * storage port, counted by one conditional update (so a seq is taken once, also when two uploads
 * race or two brokers share the database), chained as `recording.chunk {seq, bytes, sha256}`,
 * and only then acked. Every refusal is audited with why.
 */
export async function acceptChunk(core: SessionCore, u: ChunkUpload): Promise<ChunkAck> {
  const row = await readRow(core, u.sessionId);
  const actor = endUserActor(u.jkt, u.source);
  const refuse = async (why: string, err: DomainError): Promise<never> => {
    const meta = { seq: u.seq, why };
    await core.audit.refused({ type: 'recording.chunk_refused', outcome: 'denied', ...actor, session_id: row.id, ticket: row.ticket_ref, meta }, `recording.chunk_refused|${row.id}|${why}`);
    throw err;
  };
  if (row.end_user_jkt !== u.jkt) return refuse('not the end user of this session', forbidden('this device is not the end user of that session'));
  const token = await core.db.selectFrom('session_tokens').select(['session_id', 'role', 'jkt', 'revoked_at']).where('jti', '=', u.jti).executeTakeFirst();
  if (!token || token.session_id !== row.id || token.role !== 'end_user' || token.jkt !== u.jkt) return refuse('not an end-user token of this session', forbidden('this token is not the end user\'s for that session'));
  if (row.state === 'ended') return refuse('after the session ended', conflict('the session has ended; no more chunks are taken', 'session_ended'));
  if (row.state !== 'active') return refuse('the session has not started', conflict('the session has not started', 'not_started'));
  if (token.revoked_at !== null) return refuse('token revoked', forbidden('this token was revoked', 'token_revoked'));
  const rec = await core.db.selectFrom('recordings').selectAll().where('session_id', '=', row.id).executeTakeFirst();
  if (!rec || rec.state !== 'recording') return refuse('this session is not recorded', conflict('this session is not being recorded', 'not_recorded'));
  if (u.body.length === 0 || u.body.length > MAX_CHUNK_BYTES) return refuse('size out of bounds', badRequest(`a chunk is 1 to ${MAX_CHUNK_BYTES} bytes`, 'chunk_size'));
  if (u.body.length !== u.declaredBytes) return refuse('length differs from the declared one', badRequest(`the chunk has ${u.body.length} bytes, not the ${u.declaredBytes} declared`, 'chunk_length_mismatch'));
  const sha256 = sha256hex(u.body);
  if (sha256 !== u.declaredSha256) return refuse('sha256 differs from the declared one', badRequest('the chunk\'s sha256 is not the one declared', 'chunk_hash_mismatch'));
  if (u.seq >= MAX_CHUNKS_PER_SESSION) return refuse('too many chunks', conflict(`a recording has at most ${MAX_CHUNKS_PER_SESSION} chunks`, 'too_many_chunks'));

  const already = async (): Promise<ChunkAck | null> => {
    const prior = await core.db.selectFrom('recording_chunks').selectAll().where('session_id', '=', row.id).where('seq', '=', u.seq).executeTakeFirst();
    if (!prior) return null;
    // A retry after a lost ack carries the same bytes: acked again. Other bytes under a taken seq are refused.
    if (prior.sha256 !== sha256) return refuse('repeated with other bytes', conflict(`chunk ${u.seq} was already stored with other bytes`, 'chunk_conflict'));
    return { seq: u.seq, bytes: prior.bytes, sha256, acked_at: core.clock.now(), duplicate: true };
  };
  if (u.seq < rec.next_seq) {
    const dup = await already();
    if (dup) return dup;
  }
  if (u.seq !== rec.next_seq) return refuse('out of order', conflict(`chunk ${u.seq} is out of order: the next one is ${rec.next_seq}`, 'chunk_out_of_order'));

  const name = chunkObjectName(u.seq, sha256);
  try {
    await core.recordings.put(row.id, name, u.body);
  } catch (e) {
    const meta = { seq: u.seq, error: String((e as Error)?.message ?? e).slice(0, 200) };
    await core.audit.refused({ type: 'recording.store_failed', outcome: 'failure', ...actor, session_id: row.id, ticket: row.ticket_ref, meta }, `recording.store_failed|${row.id}`);
    throw unavailable('the recording store could not keep the chunk; send it again', 'recording_store_failed');
  }
  const now = core.clock.now();
  const won = await core.db.transaction().execute(async (trx) => {
    const upd = await trx
      .updateTable('recordings')
      .set((eb) => ({ next_seq: u.seq + 1, chunks: eb('chunks', '+', 1), bytes: eb('bytes', '+', u.body.length), first_at: rec.first_at ?? now, last_at: now }))
      .where('session_id', '=', row.id)
      .where('next_seq', '=', u.seq)
      .where('state', '=', 'recording')
      .executeTakeFirst();
    if (Number(upd.numUpdatedRows) !== 1) return false;
    await trx.insertInto('recording_chunks').values({ session_id: row.id, seq: u.seq, bytes: u.body.length, sha256, received_at: now }).execute();
    return true;
  });
  if (!won) {
    // Another upload of this seq (or the end) came first: ours is not the stored one.
    const dup = await already();
    if (dup) return dup;
    const again = await readRow(core, row.id);
    if (again.state === 'ended') return refuse('after the session ended', conflict('the session has ended; no more chunks are taken', 'session_ended'));
    return refuse('out of order', conflict(`chunk ${u.seq} is out of order`, 'chunk_out_of_order'));
  }
  await core.audit.append({ type: 'recording.chunk', outcome: 'success', ...actor, session_id: row.id, ticket: row.ticket_ref, meta: { seq: u.seq, bytes: u.body.length, sha256 } });
  const live = core.live.get(row.id);
  if (live?.recording) live.recording.acked(now);
  if (live) core.events?.chunkStored(live, u.seq, u.body);
  return { seq: u.seq, bytes: u.body.length, sha256, acked_at: now, duplicate: false };
}

/**
 * After a restart, an active session's recording goes on where it was: the stall watch restarts
 * from now (the client retries what was not acked while the broker was down).
 */
export async function resumeRecordingWatch(core: SessionCore, live: LiveSession): Promise<void> {
  const rec = await core.db.selectFrom('recordings').select(['mode', 'state']).where('session_id', '=', live.id).executeTakeFirst();
  if (!rec || rec.state !== 'recording') return;
  live.recording = watchRecording(core, live, rec.mode as RecordingMode);
}
