import { z } from 'zod';

/**
 * Clipboard text between the two sides, on its own reliable data channel negotiated with a fixed
 * id. Only text: a picture or anything else on the sender's clipboard is not sent, the other side
 * is told it was refused and why. The text is bounded (MAX_CLIPBOARD_CHARS) so one message fits
 * the data channel and the bridge frame on its way to main; longer text is refused the same way.
 */
export const CLIPBOARD_CHANNEL = { label: 'chaperone-clipboard', id: 1002 } as const;
export const MAX_CLIPBOARD_CHARS = 8192;
/** How often main looks at the end user's clipboard while a grant lets text leave it. */
export const CLIPBOARD_POLL_MS = 250;
export const CLIPBOARD_REFUSALS = ['not_text', 'too_large'] as const;
export type ClipboardRefusal = (typeof CLIPBOARD_REFUSALS)[number];

export const ClipboardMessageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('text'), text: z.string().min(1).max(MAX_CLIPBOARD_CHARS) }).strict(),
  /** The sender's clipboard changed to something that may not go (a picture, text too long). */
  z.object({ t: z.literal('refused'), reason: z.enum(CLIPBOARD_REFUSALS) }).strict(),
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

/** What a clipboard holds, as far as sharing it goes. */
export type ClipboardContent = { kind: 'text'; text: string } | { kind: 'image' } | { kind: 'empty' };

/** The same content as what was last seen or written (then nothing is sent again). */
export function sameContent(a: ClipboardContent | null, b: ClipboardContent): boolean {
  if (!a || a.kind !== b.kind) return false;
  return a.kind !== 'text' || a.text === (b as { text: string }).text;
}
