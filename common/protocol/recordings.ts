import { z } from 'zod';
import { TRANSCRIPT_KINDS } from '../recording.js';

/** The Recordings screen's filters (GET /api/v1/recordings). Dates are epoch milliseconds. */
export const RecordingListQuery = z
  .object({
    analyst: z.string().min(1).max(64).optional(),
    ticket: z.string().min(1).max(64).optional(),
    from: z.coerce.number().int().min(0).optional(),
    to: z.coerce.number().int().min(0).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(200),
  })
  .strict();

export const RECORDING_STATES = ['recording', 'finalising', 'finalised', 'deleted'] as const;

export const RecordingRowSchema = z
  .object({
    session_id: z.string().uuid(),
    ticket: z.string().max(64),
    analyst: z.string().max(64),
    analyst_name: z.string().max(200),
    started_at: z.number().int().nullable(),
    duration_ms: z.number().int().min(0),
    bytes: z.number().int().min(0),
    state: z.enum(RECORDING_STATES),
    end_reason: z.string().max(40).nullable(),
    /** Whether a playable file was rebuilt (a recording whose chunks are not a readable WebM has none). */
    playable: z.boolean(),
  })
  .strict();
export const RecordingListSchema = z.object({ recordings: z.array(RecordingRowSchema).max(500) }).strict();
export type RecordingRow = z.infer<typeof RecordingRowSchema>;

/**
 * A `<video src>` cannot send a DPoP proof, so the console asks for a playback ticket with its
 * DPoP-bound token (audited as recording.viewed) and puts it in the video's URL: signed by the
 * broker, for one recording, short-lived, only for reading that file.
 */
export const PlaybackTicketSchema = z.object({ url: z.string().max(4096), expires_at: z.number().int() }).strict();
/** Optional in the schema so that a missing ticket is refused by the auth check (401, audited), not as bad input. */
export const PlaybackQuery = z.object({ ticket: z.string().max(4096).optional() }).strict();

export const MARKER_KINDS = TRANSCRIPT_KINDS;
export const RecordingMarkerSchema = z
  .object({
    /** Milliseconds into the recording. */
    at_ms: z.number().int().min(0),
    kind: z.enum(MARKER_KINDS),
    /** What the entry says, without letters typed or chat text unless policy kept them. */
    label: z.string().max(200),
  })
  .strict();
export const RecordingMarkersSchema = z.object({ markers: z.array(RecordingMarkerSchema).max(20_000) }).strict();
export type RecordingMarker = z.infer<typeof RecordingMarkerSchema>;
