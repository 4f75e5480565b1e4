import { z } from 'zod';
import { MAX_SIGNALING_FRAME_BYTES } from '../../common/protocol/limits.js';

/**
 * What the instances of a cluster tell each other over Redis pub/sub. Each message is parsed as
 * unknown through these schemas (another instance is trusted, a corrupted or foreign message on
 * our channels is not acted on).
 */

/** A message is at most one signaling frame plus its envelope. */
export const MAX_CLUSTER_MESSAGE_BYTES = MAX_SIGNALING_FRAME_BYTES + 4096;

const Id = z.string().min(1).max(128);
const Role = z.enum(['analyst', 'end_user']);

/** On a session's channel: to the instances holding its sockets. */
export const SessionMessageSchema = z.discriminatedUnion('t', [
  /** A frame for the socket of `role`, from another instance (a relayed signal, a lifecycle push). */
  z.object({ t: z.literal('deliver'), role: Role, frame: z.record(z.string(), z.unknown()) }).strict(),
  /** `role` authenticated on instance `node`: an older socket of that role elsewhere is replaced; its peer hears it is online. */
  z.object({ t: z.literal('connected'), role: Role, node: Id }).strict(),
  /** The socket of `role` on `node` closed. */
  z.object({ t: z.literal('disconnected'), role: Role, node: Id }).strict(),
  /**
   * Monitored sessions, from instance `node`: `reload`: who watches or a watcher's suspension
   * changed (read it again from the store, push it to the sockets here); `chunk`: that recording
   * chunk is stored (watchers here read it from the shared store); `frame`: for the watchers here.
   */
  z
    .object({ t: z.literal('watch'), node: Id, reload: z.boolean(), chunk: z.number().int().min(0).max(1_000_000).optional(), frame: z.record(z.string(), z.unknown()).optional() })
    .strict(),
]);
export type SessionMessage = z.infer<typeof SessionMessageSchema>;

const ErrorShape = z.object({ kind: z.string().max(40), code: z.string().max(80), message: z.string().max(2000) }).strict();

/** On one instance's own channel. */
export const NodeMessageSchema = z.discriminatedUnion('t', [
  /** Run a lifecycle step on the instance that holds the session (its lease); answer with `reply`. */
  z.object({ t: z.literal('op'), id: Id, from: Id, sid: Id, body: z.unknown() }).strict(),
  z.object({ t: z.literal('reply'), id: Id, error: ErrorShape.optional() }).strict(),
  /** The session's row changed on another instance: re-arm its timers from it. */
  z.object({ t: z.literal('changed'), sid: Id }).strict(),
]);
export type NodeMessage = z.infer<typeof NodeMessageSchema>;

/** To every instance. */
export const BroadcastMessageSchema = z.discriminatedUnion('t', [
  /** Stored as ended (by whichever instance ended it): drop it, close its sockets. */
  z.object({ t: z.literal('ended'), sid: Id, reason: z.string().max(40) }).strict(),
]);
export type BroadcastMessage = z.infer<typeof BroadcastMessageSchema>;

export function parseMessage<T>(schema: z.ZodType<T>, text: string): T | null {
  if (text.length > MAX_CLUSTER_MESSAGE_BYTES) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const r = schema.safeParse(raw);
  return r.success ? r.data : null;
}
