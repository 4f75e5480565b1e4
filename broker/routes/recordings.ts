import { z } from 'zod';
import { IdSchema, SessionIdParams } from '../../common/protocol/api.js';
import { ChunkAckSchema, MAX_CHUNK_BYTES, MAX_CHUNKS_PER_SESSION, SHA256_HEX, TranscriptAckSchema, TranscriptBatchSchema } from '../../common/recording.js';
import type { BrokerContext } from '../context.js';
import { sourceOf } from '../http/auth.js';
import { forbidden } from '../http/errors.js';
import { parseInput } from '../http/parse.js';
import type { RouteRegistry } from '../http/registry.js';

export const CHUNK_ROUTE = '/api/v1/sessions/:id/recording/chunks/:seq';

const ChunkParams = z.object({ id: IdSchema, seq: z.coerce.number().int().min(0).max(MAX_CHUNKS_PER_SESSION) }).strict();
const ChunkHeaders = z.object({
  'x-chaperone-sha256': z.string().regex(SHA256_HEX, 'the sha256 of the chunk, 64 lowercase hex digits'),
  'x-chaperone-bytes': z.coerce.number().int().min(1).max(MAX_CHUNK_BYTES),
});
/** The body arrives as bytes (application/octet-stream, at most MAX_CHUNK_BYTES; broker/app.ts). */
const ChunkBody = z.custom<Buffer>((b) => Buffer.isBuffer(b) && b.length > 0 && b.length <= MAX_CHUNK_BYTES, 'an application/octet-stream body of 1 to 2 MiB');

const Tar = z.custom<Buffer>((b) => Buffer.isBuffer(b), 'a tar file');

export function recordingRoutes(r: RouteRegistry, ctx: BrokerContext): void {
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
