import { z } from 'zod';

/**
 * File transfer on its own data channel, reliable and ordered, negotiated with a fixed id on both
 * sides. Text messages steer a transfer; binary messages are the bytes of the one transfer in
 * flight, in order, each at most `chunkBytes` (min(maxMessageSize, 64 KiB)). The sender keeps
 * `bufferedAmount` between the low and high water marks, so it never holds more than about
 * FILE_HIGH_WATER of the file in memory, whatever the file's size.
 */
export const FILE_CHANNEL = { label: 'chaperone-files', id: 1001 } as const;
export const MAX_FILE_CHUNK_BYTES = 64 * 1024;
export const FILE_HIGH_WATER = 4 * 1024 * 1024;
export const FILE_LOW_WATER = 1024 * 1024;
/** The receiver tells the sender how far it has written about this often (the sender's progress shows what has landed). */
export const FILE_PROGRESS_EVERY = 1024 * 1024;
export const MAX_FILE_MESSAGE_CHARS = 2048;
/**
 * The sender stays at most this far ahead of what the receiver reports written: the receiver
 * cannot pause a data channel, so this window is what bounds its memory and its calls to main.
 * With 64 KiB pieces to main, 4 MiB let the end user's main process grow 20 to 33 MiB over a
 * 100 MiB file, 2 MiB 14 to 28 MiB, at the same speed on loopback (`npm run bench -- transfer`,
 * bench/README.md). A link carries at most about this much per round trip: 20 MiB/s at 100 ms.
 */
export const FILE_RECEIVER_WINDOW = 2 * 1024 * 1024;

export function chunkBytes(maxMessageSize: number | null | undefined): number {
  const m = maxMessageSize && Number.isFinite(maxMessageSize) && maxMessageSize > 0 ? maxMessageSize : MAX_FILE_CHUNK_BYTES;
  return Math.min(m, MAX_FILE_CHUNK_BYTES);
}

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/);

export const FileMessageSchema = z.discriminatedUnion('t', [
  /** Sender: a file, before any byte. `name` is only a wish; the receiver picks the name on disk. */
  z.object({ t: z.literal('offer'), id, name: z.string().min(1).max(1024), size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
  /** Receiver: the end user accepted (bytes may come) or refused (nothing was written). */
  z.object({ t: z.literal('accept'), id }).strict(),
  z.object({ t: z.literal('refuse'), id, reason: z.string().max(64) }).strict(),
  /** Sender: every byte has been sent. */
  z.object({ t: z.literal('end'), id }).strict(),
  /** Receiver: bytes written so far. */
  z.object({ t: z.literal('progress'), id, written: z.number().int().min(0) }).strict(),
  /** Receiver: saved under `as` with a matching hash, or failed (the partial file is gone). */
  z.object({ t: z.literal('saved'), id, as: z.string().max(255) }).strict(),
  z.object({ t: z.literal('failed'), id, reason: z.string().max(64) }).strict(),
  /** Either side stops it. */
  z.object({ t: z.literal('cancel'), id, reason: z.string().max(64) }).strict(),
]);
export type FileMessage = z.infer<typeof FileMessageSchema>;

/** Parses one text message of the files channel as untrusted input; null when it does not fit. */
export function decodeFileMessage(data: string): FileMessage | null {
  if (data.length > MAX_FILE_MESSAGE_CHARS) return null;
  try {
    const r = FileMessageSchema.safeParse(JSON.parse(data));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
