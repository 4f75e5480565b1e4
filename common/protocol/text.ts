import { z } from 'zod';

/**
 * Characters no free text the broker accepts may contain, because they are invisible or change
 * how the text around them reads, and free text reaches people (the consent screen shows the
 * reason, names and organisation inside the broker-signed offer): control characters (Unicode
 * Cc: C0, DEL, C1), format characters (Cf: bidi marks, embeddings, overrides and isolates,
 * zero-width spaces and joiners, the BOM, invisible operators, tag characters), line and
 * paragraph separators (Zl, Zp) and unpaired surrogates (Cs). One definition for every schema
 * in common/protocol/ and for the broker's own checks (the command line).
 */
export const UNSAFE_TEXT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

export const UNSAFE_TEXT_MESSAGE = 'must not contain control, formatting (bidi, zero-width) or line-separator characters';

export function isSafeText(s: string): boolean {
  return !UNSAFE_TEXT.test(s);
}

/** Free text of 1 to `max` characters that is safe to show (above). */
export const safeText = (max: number) => z.string().min(1).max(max).refine(isSafeText, UNSAFE_TEXT_MESSAGE);
