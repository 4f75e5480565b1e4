import crypto from 'node:crypto';
import { RECORDING_TIMESLICE_MS, RecordingManifestSchema, TranscriptBatchSchema, type TranscriptEntry } from '../../common/recording.js';
import type { RecordingMarker, RecordingRow } from '../../common/protocol/recordings.js';
import { RECORDING_STATES } from '../../common/protocol/recordings.js';
import { missingCase } from '../../common/missing-case.js';
import { decodeJws, signJws, verifyJwsSignature } from '../auth/jws.js';
import type { AuditLog } from '../audit/log.js';
import { conflict, notFound } from '../domain-errors.js';
import type { KeyRing } from '../keys.js';
import type { Storage } from '../storage/db.js';
import { MANIFEST_OBJECT, PLAYABLE_OBJECT, type RecordingStore } from '../storage/recording-store.js';

/**
 * What the Recordings screen reads: the list, the transcript's markers, and the playable file
 * through a playback ticket. A `<video src>` cannot send a DPoP proof, so the console's
 * DPoP-bound token buys a ticket (audited as recording.viewed: who, which, when) that the video's
 * URL carries: an EdDSA JWS from the broker's key naming one session, the viewer and an expiry.
 * It reads that one file and nothing else; a leaked URL is worth one recording for minutes.
 */

export const PLAYBACK_TYP = 'chaperone-playback+jws';
export const PLAYBACK_TTL_MS = 15 * 60_000;

type Filters = { analyst?: string; ticket?: string; from?: number; to?: number; limit: number };

export class RecordingPlayback {
  constructor(
    private readonly storage: Storage,
    private readonly store: RecordingStore,
    private readonly keys: KeyRing,
    private readonly audit: AuditLog,
    private readonly now: () => number,
  ) {}


  async list(f: Filters): Promise<RecordingRow[]> {
    let q = this.storage.db
      .selectFrom('recordings')
      .innerJoin('sessions', 'sessions.id', 'recordings.session_id')
      .innerJoin('accounts', 'accounts.id', 'sessions.analyst_id')
      .select([
        'recordings.session_id',
        'recordings.state',
        'recordings.bytes',
        'recordings.first_at',
        'recordings.last_at',
        'sessions.ticket_ref',
        'sessions.end_reason',
        'sessions.activated_at',
        'sessions.created_at',
        'accounts.username',
        'accounts.display_name',
      ])
      .orderBy('sessions.created_at', 'desc')
      .limit(f.limit);
    if (f.analyst) q = q.where('accounts.username', '=', f.analyst);
    if (f.ticket) q = q.where('sessions.ticket_ref', '=', f.ticket);
    if (f.from !== undefined) q = q.where('sessions.created_at', '>=', f.from);
    if (f.to !== undefined) q = q.where('sessions.created_at', '<', f.to);
    const rows = await q.execute();
    const out: RecordingRow[] = [];
    for (const r of rows) {
      const state = RECORDING_STATES.find((s) => s === r.state) ?? 'recording';
      const manifest = state === 'finalised' ? await this.manifestOf(r.session_id) : null;
      out.push({
        session_id: r.session_id,
        ticket: r.ticket_ref,
        analyst: r.username,
        analyst_name: r.display_name,
        started_at: r.activated_at ?? r.created_at,
        duration_ms: manifest?.duration_ms ?? (r.first_at !== null && r.last_at !== null ? r.last_at - r.first_at + RECORDING_TIMESLICE_MS : 0),
        bytes: r.bytes,
        state,
        end_reason: r.end_reason,
        playable: manifest?.playable_sha256 != null,
      });
    }
    return out;
  }

  private async manifestOf(sessionId: string) {
    const jws = await this.store.get(sessionId, MANIFEST_OBJECT);
    if (!jws) return null;
    const parsed = RecordingManifestSchema.safeParse(decodeJws(jws.toString('utf8')).payload);
    return parsed.success ? parsed.data : null;
  }

  private async recordingRow(sessionId: string) {
    const row = await this.storage.db
      .selectFrom('recordings')
      .innerJoin('sessions', 'sessions.id', 'recordings.session_id')
      .select(['recordings.state', 'sessions.ticket_ref'])
      .where('recordings.session_id', '=', sessionId)
      .executeTakeFirst();
    if (!row) throw notFound('this session has no recording', 'no_recording');
    if (row.state === 'deleted') throw conflict('this recording was deleted under the retention policy; its manifest hash stays in the audit chain', 'recording_deleted');
    return row;
  }

  /** Issues a ticket for one recording and audits the viewing. */
  async issueTicket(sessionId: string, viewer: string, source: string): Promise<{ url: string; expires_at: number }> {
    const row = await this.recordingRow(sessionId);
    if (row.state !== 'finalised' || !(await this.store.get(sessionId, PLAYABLE_OBJECT))) throw conflict('this recording has no playable file yet (still recording, or its chunks are not a readable video)', 'not_playable');
    const now = this.now();
    const expires = now + PLAYBACK_TTL_MS;
    const k = this.keys.active;
    const jti = crypto.randomUUID();
    const ticket = signJws({ typ: PLAYBACK_TYP, kid: k.kid }, { sid: sessionId, sub: viewer, exp: expires, jti }, k.privateKey);
    await this.audit.append({ type: 'recording.viewed', outcome: 'success', actor: `account:${viewer}`, source, session_id: sessionId, ticket: row.ticket_ref, meta: { jti, expires_at: expires } });
    return { url: `/api/v1/sessions/${sessionId}/recording?ticket=${ticket}`, expires_at: expires };
  }

  /** A ticket from a video's URL: the broker's signature, its type, this session, not expired; null otherwise. */
  checkTicket(sessionId: string, ticket: string): { sid: string; viewer: string } | null {
    let d: ReturnType<typeof decodeJws>;
    try {
      d = decodeJws(ticket);
    } catch {
      return null;
    }
    const key = this.keys.published(this.now()).find((k) => k.kid === d.header.kid);
    if (!key || d.header.typ !== PLAYBACK_TYP || !verifyJwsSignature(d, key.publicKey)) return null;
    const { sid, sub, exp } = d.payload;
    if (sid !== sessionId || typeof sub !== 'string' || typeof exp !== 'number' || exp <= this.now()) return null;
    return { sid, viewer: sub };
  }

  async playable(sessionId: string): Promise<Buffer> {
    await this.recordingRow(sessionId);
    const bytes = await this.store.get(sessionId, PLAYABLE_OBJECT);
    if (!bytes) throw notFound('this recording has no playable file', 'not_playable');
    return bytes;
  }

  /**
   * The transcript's entries as markers on the recording's timeline. The entries carry the end
   * user's clock; the video starts one timeslice before its first chunk arrived, so an entry is
   * placed at its time minus that start (close to the frame, within the upload's delay).
   */
  async markers(sessionId: string): Promise<RecordingMarker[]> {
    await this.recordingRow(sessionId);
    const first = await this.storage.db.selectFrom('recording_chunks').select('received_at').where('session_id', '=', sessionId).orderBy('seq').limit(1).executeTakeFirst();
    const start = (first?.received_at ?? 0) - RECORDING_TIMESLICE_MS;
    const names = (await this.store.list(sessionId)).filter((n) => /^transcript-\d{6}\.json$/.test(n)).sort();
    const markers: RecordingMarker[] = [];
    for (const name of names) {
      const raw = await this.store.get(sessionId, name);
      const batch = raw ? TranscriptBatchSchema.safeParse(JSON.parse(raw.toString('utf8'))) : null;
      if (!batch?.success) continue;
      for (const e of batch.data.entries) markers.push({ at_ms: Math.max(0, e.t - start), kind: e.kind, label: markerLabel(e) });
    }
    return markers.sort((a, b) => a.at_ms - b.at_ms).slice(0, 20_000);
  }
}

function markerLabel(e: TranscriptEntry): string {
  switch (e.kind) {
    case 'control_granted':
      return 'Control granted';
    case 'control_revoked':
      return 'Control taken back';
    case 'click':
      return `${e.button === 'right' ? 'Right click' : e.button === 'middle' ? 'Middle click' : 'Click'}${e.x !== undefined && e.y !== undefined ? ` at ${Math.round(e.x * 100)}%, ${Math.round(e.y * 100)}%` : ''}`;
    case 'keys':
      return `${e.count ?? 0} key presses`;
    case 'text':
      return `Typed ${e.count ?? 0} characters`;
    case 'chat':
      return e.text !== undefined ? `Chat: ${e.text.slice(0, 150)}` : `Chat message, ${e.count ?? 0} characters`;
    case 'pause':
      return 'Paused';
    case 'resume':
      return 'Resumed';
    case 'extension':
      return 'Time extended';
    case 'verification_code':
      return 'Verification code shown';
    case 'refused':
      return `Refused by the end user's computer${e.why ? `: ${e.why}` : ''}`;
    case 'end':
      return 'Session ended';
    case 'clipboard_to_end_user':
      return `Clipboard text to the end user, ${e.count ?? 0} characters`;
    case 'clipboard_from_end_user':
      return `Clipboard text from the end user, ${e.count ?? 0} characters`;
    case 'watcher_joined':
      return `A watcher joined${e.why ? `: ${e.why}` : ''}`;
    case 'watcher_left':
      return `A watcher left${e.why ? `: ${e.why}` : ''}`;
    case 'control_suspended':
      return 'Control suspended by a watcher';
    case 'control_resumed':
      return 'Control resumed';
    default:
      return missingCase(e.kind);
  }
}
