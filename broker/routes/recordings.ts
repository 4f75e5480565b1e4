import { z } from 'zod';
import { IdSchema, SessionIdParams } from '../../common/protocol/api.js';
import { ChunkAckSchema, MAX_CHUNK_BYTES, MAX_CHUNKS_PER_SESSION, SHA256_HEX, TranscriptAckSchema, TranscriptBatchSchema } from '../../common/recording.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import { forbidden } from '../http/errors.js';
import { parseInput } from '../http/parse.js';
import type { RouteRegistry } from '../http/registry.js';
import { PlaybackQuery, PlaybackTicketSchema, RecordingListQuery, RecordingListSchema, RecordingMarkersSchema } from '../../common/protocol/recordings.js';
import { parseRange } from '../http/range.js';
import { ApiError } from '../http/errors.js';
import { OptionalEmptyBody } from '../../common/protocol/api.js';

export const CHUNK_ROUTE = '/api/v1/sessions/:id/recording/chunks/:seq';

const ChunkParams = z.object({ id: IdSchema, seq: z.coerce.number().int().min(0).max(MAX_CHUNKS_PER_SESSION) }).strict();
const ChunkHeaders = z.object({
  'x-chaperone-sha256': z.string().regex(SHA256_HEX, 'the sha256 of the chunk, 64 lowercase hex digits'),
  'x-chaperone-bytes': z.coerce.number().int().min(1).max(MAX_CHUNK_BYTES),
});
/** The body arrives as bytes (application/octet-stream, at most MAX_CHUNK_BYTES; broker/app.ts). */
const ChunkBody = z.custom<Buffer>((b) => Buffer.isBuffer(b) && b.length > 0 && b.length <= MAX_CHUNK_BYTES, 'an application/octet-stream body of 1 to 2 MiB');

const Tar = z.custom<Buffer>((b) => Buffer.isBuffer(b), 'a tar file');
const Webm = z.custom<Buffer>((b) => Buffer.isBuffer(b), 'video/webm bytes (all, or the range asked for)');

export function recordingRoutes(r: RouteRegistry, ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/api/v1/recordings',
    summary: 'Recorded sessions, newest first (who, ticket, when, length, size, how it ended), filtered by analyst username, ticket and a time range on when the session was requested',
    tag: 'evidence',
    auth: 'account',
    roles: ['auditor', 'admin'],
    query: RecordingListQuery,
    response: RecordingListSchema,
    responses: { 200: '{ recordings: [...] }', 403: 'not an auditor or admin' },
    handler: async ({ query }) => ({ recordings: await ctx.playback.list(query) }),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/recording/playback',
    summary:
      'A playback ticket for one finalised recording: a URL a <video> element can load (it cannot send a DPoP proof), signed by the broker, valid 15 minutes, for this file only. Audited as recording.viewed',
    tag: 'evidence',
    auth: 'account',
    roles: ['auditor', 'admin'],
    params: SessionIdParams,
    body: OptionalEmptyBody,
    response: PlaybackTicketSchema,
    responses: { 200: '{ url, expires_at }', 403: 'not an auditor or admin', 404: 'no recording', 409: 'not finalised, no playable file, or deleted under the retention policy (recording_deleted)' },
    handler: async ({ req, params, account }) => ctx.playback.issueTicket(params.id, account.username, sourceOf(req)),
  });
  r.add({
    method: 'GET',
    url: '/api/v1/sessions/:id/recording',
    summary: 'The playable recording (video/webm with duration and cues), with HTTP Range requests so a player streams and seeks; the ticket from the playback route is the credential',
    tag: 'evidence',
    auth: 'playback',
    params: SessionIdParams,
    query: PlaybackQuery,
    response: Webm,
    responses: { 200: 'video/webm', 206: 'the byte range asked for', 401: 'the ticket is not valid for this recording or has expired', 404: 'no playable file', 409: 'deleted under the retention policy', 416: 'the range is outside the file' },
    handler: async ({ reply, params, req }) => {
      const bytes = await ctx.playback.playable(params.id);
      reply.header('content-type', 'video/webm');
      reply.header('accept-ranges', 'bytes');
      reply.header('cache-control', 'private, no-store');
      const range = parseRange(req.headers.range, bytes.length);
      if (range === 'unsatisfiable') {
        reply.header('content-range', `bytes */${bytes.length}`);
        throw new ApiError(416, 'range_not_satisfiable', 'the range is outside the recording');
      }
      if (!range) return bytes;
      reply.code(206);
      reply.header('content-range', `bytes ${range.start}-${range.end}/${bytes.length}`);
      return bytes.subarray(range.start, range.end + 1);
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/sessions/:id/recording/markers',
    summary: "The transcript's entries as markers on the recording's timeline (milliseconds into the video, kind, a label without typed letters or chat text unless policy kept them)",
    tag: 'evidence',
    auth: 'account',
    roles: ['auditor', 'admin'],
    params: SessionIdParams,
    response: RecordingMarkersSchema,
    responses: { 200: '{ markers: [...] }', 403: 'not an auditor or admin', 404: 'no recording', 409: 'deleted under the retention policy' },
    handler: async ({ params }) => ({ markers: await ctx.playback.markers(params.id) }),
  });
  r.add({
    method: 'POST',
    url: '/api/v1/sessions/:id/recording/transcript',
    summary: "The end user's client uploads one batch of the transcript from its input gate ({seq, entries}); stored as one line, chained as transcript.batch {seq, lines, sha256}, then acked",
    tag: 'end user',
    auth: 'session',
    params: SessionIdParams,
    body: TranscriptBatchSchema,
    response: TranscriptAckSchema,
    responses: { 200: '{ seq, sha256, entries }', 403: "not the end user's token for this session", 409: 'out of order, repeated with other entries, after the session ended, or not recorded', 503: 'the recording store failed; send it again' },
    handler: async ({ req, params, body, session }) => {
      if (session.sid !== params.id || session.role !== 'end_user') throw forbidden("only the end user's session token for this session uploads its transcript");
      return ctx.sessions.acceptTranscriptBatch({ sessionId: params.id, batch: body, jti: session.jti, jkt: session.jkt, source: sourceOf(req) });
    },
  });
  r.add({
    method: 'GET',
    url: '/api/v1/sessions/:id/evidence',
    summary:
      "The session's evidence bundle (a tar: audit events with the chain links and checkpoint, the broker's keys, the signed offer, the end user's receipts, the recording's chunks and signed manifest, the transcript); `chaperone-broker evidence verify FILE` checks it offline. Audited as recording.exported",
    tag: 'evidence',
    auth: 'account',
    roles: ['auditor', 'admin'],
    params: SessionIdParams,
    response: Tar,
    responses: { 200: 'application/x-tar', 403: 'not an auditor or admin', 404: 'no such session' },
    handler: async ({ req, reply, params, account }) => {
      const tar = await ctx.evidence.export(params.id, { actor: `account:${account.username}`, source: sourceOf(req) });
      reply.header('content-type', 'application/x-tar');
      reply.header('content-disposition', `attachment; filename="evidence-${params.id}.tar"`);
      return tar;
    },
  });
  r.add({
    method: 'POST',
    url: CHUNK_ROUTE,
    summary:
      "The end user's client uploads one chunk of the session's recording (WebM, application/octet-stream) with its seq, byte length and sha256; stored, chained as recording.chunk, then acked",
    tag: 'end user',
    auth: 'session',
    params: ChunkParams,
    body: ChunkBody,
    binaryBody: true,
    response: ChunkAckSchema,
    responses: {
      200: '{ seq, bytes, sha256, acked_at, duplicate }: stored and in the audit chain (duplicate: a retry of a stored chunk)',
      400: 'length or sha256 differs from the declared one, or the chunk is empty or too large',
      403: "not the end user's token for this session, or revoked",
      409: 'out of order, repeated with other bytes, after the session ended, too many chunks, or not recorded',
      503: 'the recording store failed; send the chunk again',
    },
    handler: async ({ req, params, body, session }) => {
      const h = parseInput(ChunkHeaders, req.headers, 'header');
      if (session.sid !== params.id || session.role !== 'end_user') throw forbidden("only the end user's session token for this session uploads its recording");
      return ctx.sessions.acceptChunk({
        sessionId: params.id,
        seq: params.seq,
        declaredBytes: h['x-chaperone-bytes'],
        declaredSha256: h['x-chaperone-sha256'],
        body,
        jti: session.jti,
        jkt: session.jkt,
        source: sourceOf(req),
      });
    },
  });
}
