import { z } from 'zod';
import type { Capability } from './capabilities.js';
import { MAX_CLIPBOARD_IMAGE_BYTES } from './clipboard/protocol.js';

/**
 * Session recording: what policy decides, the limits both sides hold, and the manifest the broker
 * signs when a recording is finalised. The end user's client records the very track it shares
 * (renderer/session/recorder.ts) and uploads each chunk while the session runs; the broker stores
 * it (broker/storage/recording-store.ts) and chains `recording.chunk {seq, bytes, sha256}`.
 */
export const RECORDING_MODES = ['off', 'best_effort', 'required'] as const;
export type RecordingMode = (typeof RECORDING_MODES)[number];

/** The largest chunk the broker takes: about 2 s at 8 Mbit/s, four times the bitrate we record at. */
export const MAX_CHUNK_BYTES = 2 * 1024 * 1024;
/** Chunks per session: 24 hours of 2 s chunks, more than the hard maximum duration allows. */
export const MAX_CHUNKS_PER_SESSION = 43_200;
/** What the recorder asks MediaRecorder for (renderer/session/recorder.ts; bench/recording.ts measures it). */
export const RECORDING_VIDEO_BITS_PER_SECOND = 600_000;
export const RECORDING_TIMESLICE_MS = 2000;
/**
 * Frames per second the recorder keeps of the shared track (which runs at up to 30): typing,
 * scrolling and pointer moves stay readable at 10, and the sharer's machine encodes a third of
 * the frames a second time instead of all of them (bench/recording.ts measures both).
 */
export const RECORDING_FRAME_RATE = 10;

export const RecordingPolicySchema = z
  .object({
    /** Sessions whose capabilities include control. */
    with_control: z.enum(RECORDING_MODES).default('required'),
    /** Sessions without control (view, chat, clipboard, files). */
    view_only: z.enum(RECORDING_MODES).default('best_effort'),
    /** With `required`: no chunk acked for this long suspends control (the banner says why). */
    stall_suspend_seconds: z.number().int().min(2).max(300).default(10),
    /** With `required`: no chunk acked for this long ends the session as recording_failed. */
    stall_end_seconds: z.number().int().min(4).max(900).default(30),
    /** Recordings older than this are deleted (the manifest hash stays in the chain). */
    retention_days: z.number().int().min(1).max(3650).default(365),
    /** Past this many megabytes of stored recordings, the oldest are deleted first. */
    quota_mb: z.number().int().min(1).max(100_000_000).default(102_400),
  })
  .strict()
  .refine((p) => p.stall_suspend_seconds < p.stall_end_seconds, { message: 'stall_suspend_seconds must be less than stall_end_seconds' });
export type RecordingPolicy = z.infer<typeof RecordingPolicySchema>;

export const DEFAULT_RECORDING_POLICY: RecordingPolicy = RecordingPolicySchema.parse({});

/** The mode for a session: control is what makes a recording required by default. */
export function recordingModeFor(p: RecordingPolicy, caps: readonly Capability[]): RecordingMode {
  return caps.includes('control') ? p.with_control : p.view_only;
}

/** One sentence for the end user, on the consent screen and the banner. */
export const RECORDING_SENTENCES: Record<RecordingMode, string> = {
  off: 'This session is not recorded.',
  best_effort: 'This session is recorded: a video of what you share is kept by your organisation.',
  required: 'This session is recorded: a video of what you share is kept by your organisation. If recording stops, control stops too.',
};

export const SHA256_HEX = /^[0-9a-f]{64}$/;

export const ChunkAckSchema = z
  .object({
    seq: z.number().int().min(0),
    bytes: z.number().int().min(1),
    sha256: z.string().regex(SHA256_HEX),
    acked_at: z.number().int(),
    /** A retry of a chunk already stored with the same bytes: acked again, not stored twice. */
    duplicate: z.boolean(),
  })
  .strict();
export type ChunkAck = z.infer<typeof ChunkAckSchema>;

export const ManifestChunkSchema = z.object({ seq: z.number().int().min(0), bytes: z.number().int().min(1), sha256: z.string().regex(SHA256_HEX), received_at: z.number().int() }).strict();

/** The signed manifest's claims (a JWS of type chaperone-recording-manifest+jws). */
export const RecordingManifestSchema = z
  .object({
    session_id: z.string().max(64),
    ticket: z.string().max(64),
    mode: z.enum(RECORDING_MODES),
    mime: z.string().max(100),
    chunks: z.array(ManifestChunkSchema).max(MAX_CHUNKS_PER_SESSION),
    total_bytes: z.number().int().min(0),
    first_at: z.number().int().nullable(),
    last_at: z.number().int().nullable(),
    duration_ms: z.number().int().min(0),
    /** `at_end`: when the session ended; `after_restart`: the broker was down when it ended (a crash cut it). */
    finalised: z.enum(['at_end', 'after_restart']),
    finalised_at: z.number().int(),
    session_end_reason: z.string().max(40).nullable(),
    /** The sha256 of the playable file rebuilt at finalisation (chunks joined, cues and duration written), or null. */
    playable_sha256: z.string().regex(SHA256_HEX).nullable(),
  })
  .strict();
export type RecordingManifest = z.infer<typeof RecordingManifestSchema>;

export const MANIFEST_TYP = 'chaperone-recording-manifest+jws';

/**
 * The transcript: what the analyst did, as the end user's input gate saw it (the authoritative
 * place). Key presses are counts per second unless policy keeps codes; chat keeps lengths unless
 * policy keeps text. Uploaded in batches (TRANSCRIPT_ROUTE), each hashed and chained.
 */
export const TRANSCRIPT_KINDS = ['control_granted', 'control_revoked', 'click', 'keys', 'text', 'chat', 'pause', 'resume', 'extension', 'verification_code', 'refused', 'end', 'clipboard_to_end_user', 'clipboard_from_end_user', 'watcher_joined', 'watcher_left', 'control_suspended', 'control_resumed'] as const;
export const TranscriptEntrySchema = z
  .object({
    /** Milliseconds since the epoch, on the end user's clock. */
    t: z.number().int().min(0),
    kind: z.enum(TRANSCRIPT_KINDS),
    /** Pointer position, normalised to the shared screen (0..1). */
    x: z.number().min(0).max(1).optional(),
    y: z.number().min(0).max(1).optional(),
    button: z.enum(['left', 'middle', 'right']).optional(),
    /** Key presses in this second, characters of text input, chat or clipboard text, or bytes of a clipboard picture (never the content). */
    count: z.number().int().min(0).max(MAX_CLIPBOARD_IMAGE_BYTES).optional(),
    /** Key codes, only where policy keeps them. */
    codes: z.array(z.string().regex(/^[A-Za-z0-9]{1,32}$/)).max(200).optional(),
    /** Chat text, only where policy keeps it. */
    text: z.string().max(500).optional(),
    /** The gate's refusal, or what else the entry needs to say (a clipboard picture's type, `image/png`). */
    why: z.string().max(64).optional(),
  })
  .strict();
export type TranscriptEntry = z.infer<typeof TranscriptEntrySchema>;
export const MAX_TRANSCRIPT_BATCHES = 20_000;
export const TranscriptBatchSchema = z.object({ seq: z.number().int().min(0).max(MAX_TRANSCRIPT_BATCHES), entries: z.array(TranscriptEntrySchema).min(1).max(500) }).strict();
export type TranscriptBatch = z.infer<typeof TranscriptBatchSchema>;
export const TranscriptAckSchema = z.object({ seq: z.number().int().min(0), sha256: z.string().regex(SHA256_HEX), entries: z.number().int().min(1) }).strict();
