import { z } from 'zod';
import { missingCase } from '../missing-case.js';

/**
 * Clipboard between the two sides, on its own reliable data channel negotiated with a fixed id.
 * Text always; pictures (PNG) only in a session whose signed offer says the organisation's policy
 * allows them (`clipboard_images`) and whose machine policy does not forbid them. Anything else on
 * the sender's clipboard is not sent: the other side is told it was refused and why. Text is
 * bounded (MAX_CLIPBOARD_CHARS) so one message fits the data channel and the bridge frame on its
 * way to main; a picture is bounded (MAX_CLIPBOARD_IMAGE_BYTES) and goes in pieces small enough
 * for the same frames, in order, each saying where it belongs (ImageAssembler).
 */
export const CLIPBOARD_CHANNEL = { label: 'chaperone-clipboard', id: 1002 } as const;
export const MAX_CLIPBOARD_CHARS = 8192;
/** A PNG copied larger than this is refused unsent (a screenshot of a window fits; a full 4K screen may not). */
export const MAX_CLIPBOARD_IMAGE_BYTES = 1024 * 1024;
/** Bytes of a picture per message: base64 of it stays under the bridge's 64 KiB text frame. */
export const CLIPBOARD_IMAGE_PIECE_BYTES = 32 * 1024;
export const CLIPBOARD_IMAGE_TYPES = ['image/png'] as const;
export type ClipboardImageType = (typeof CLIPBOARD_IMAGE_TYPES)[number];
/** How often main looks at the end user's clipboard while a grant lets text leave it. */
export const CLIPBOARD_POLL_MS = 250;
/**
 * `not_text`: something that may not be shared in this session (a file, or a picture where policy
 * keeps the clipboard to text); `too_large`: text over the bound; `image_too_large`: a picture over its bound.
 */
export const CLIPBOARD_REFUSALS = ['not_text', 'too_large', 'image_too_large'] as const;
export type ClipboardRefusal = (typeof CLIPBOARD_REFUSALS)[number];
/** What is recorded of each sync: its type and length (characters of text, bytes of a picture), never the content. */
export const CLIPBOARD_SYNC_TYPES = ['text', ...CLIPBOARD_IMAGE_TYPES] as const;
export type ClipboardSyncType = (typeof CLIPBOARD_SYNC_TYPES)[number];

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** One piece of a picture: `size` is the whole picture's, `offset` where this piece's bytes go. */
export const ImagePieceSchema = z
  .object({
    type: z.enum(CLIPBOARD_IMAGE_TYPES),
    size: z.number().int().min(1).max(MAX_CLIPBOARD_IMAGE_BYTES),
    offset: z.number().int().min(0).max(MAX_CLIPBOARD_IMAGE_BYTES),
    data: z.string().min(4).max(Math.ceil(CLIPBOARD_IMAGE_PIECE_BYTES / 3) * 4).regex(BASE64),
  })
  .strict();
export type ImagePiece = z.infer<typeof ImagePieceSchema>;

export const ClipboardMessageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('text'), text: z.string().min(1).max(MAX_CLIPBOARD_CHARS) }).strict(),
  z.object({ t: z.literal('image'), ...ImagePieceSchema.shape }).strict(),
  /** The sender's clipboard changed to something that may not go (a picture, text too long). */
  z.object({ t: z.literal('refused'), reason: z.enum(CLIPBOARD_REFUSALS) }).strict(),
  /** The end user's side, when the clipboard grant starts: whether pictures may be copied in this session. */
  z.object({ t: z.literal('terms'), images: z.boolean() }).strict(),
]);
export type ClipboardMessage = z.infer<typeof ClipboardMessageSchema>;

/** Parses one message of the clipboard channel as untrusted input; null when it does not fit. */
export function decodeClipboardMessage(data: unknown): ClipboardMessage | null {
  if (typeof data !== 'string' || data.length > MAX_CLIPBOARD_CHARS * 6 + 64) return null;
  try {
    const r = ClipboardMessageSchema.safeParse(JSON.parse(data));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * What a clipboard holds, as far as sharing it goes. A picture's bytes are null when they were not
 * read: pictures may not be shared in the session (then nobody looks at them), or they are over
 * the bound (`tooLarge`).
 */
export type ClipboardContent = { kind: 'text'; text: string } | { kind: 'image'; type: ClipboardImageType; bytes: Uint8Array | null; tooLarge?: boolean } | { kind: 'empty' };

/** The same content as what was last seen or written (then nothing is sent again). */
export function sameContent(a: ClipboardContent | null, b: ClipboardContent): boolean {
  if (!a || a.kind !== b.kind) return false;
  switch (b.kind) {
    case 'text':
      return (a as { text: string }).text === b.text;
    case 'image': {
      const x = (a as { bytes: Uint8Array | null }).bytes;
      const y = b.bytes;
      if (x === null || y === null) return x === y;
      return x.length === y.length && x.every((v, i) => v === y[i]);
    }
    case 'empty':
      return true;
    default:
      return missingCase(b);
  }
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A picture cut into the pieces that cross the data channel and the bridge, in order. */
export function imagePieces(type: ClipboardImageType, bytes: Uint8Array): ImagePiece[] {
  const out: ImagePiece[] = [];
  for (let off = 0; off < bytes.length; off += CLIPBOARD_IMAGE_PIECE_BYTES) {
    out.push({ type, size: bytes.length, offset: off, data: toBase64(bytes.subarray(off, off + CLIPBOARD_IMAGE_PIECE_BYTES)) });
  }
  return out;
}

/**
 * Puts a picture back together from its pieces. A piece at offset 0 starts a new picture (the one
 * before, unfinished, is dropped); any other must follow on exactly and agree on type and size,
 * or the picture is dropped. Nothing grows past the bound whatever the pieces claim.
 */
export class ImageAssembler {
  private cur: { type: ClipboardImageType; bytes: Uint8Array; filled: number } | null = null;

  /** The whole picture once its last piece came, else null. */
  add(p: ImagePiece): { type: ClipboardImageType; bytes: Uint8Array } | null {
    let data: Uint8Array;
    try {
      data = fromBase64(p.data);
    } catch {
      this.cur = null;
      return null;
    }
    if (p.offset === 0) this.cur = { type: p.type, bytes: new Uint8Array(p.size), filled: 0 };
    const c = this.cur;
    if (!c || c.type !== p.type || c.bytes.length !== p.size || p.offset !== c.filled || c.filled + data.length > p.size || data.length === 0) {
      this.cur = null;
      return null;
    }
    c.bytes.set(data, c.filled);
    c.filled += data.length;
    if (c.filled < c.bytes.length) return null;
    this.cur = null;
    return { type: c.type, bytes: c.bytes };
  }

  reset(): void {
    this.cur = null;
  }
}
