/**
 * Join codes use Crockford's base-32 alphabet: no I, L, O or U, so a code read aloud
 * over the phone cannot be mistaken. 10 characters give 32^10 ≈ 1.13e15 codes; see
 * docs/join-codes.md for the guessing arithmetic that fixes the length and rate limits.
 */
export const JOIN_CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const JOIN_CODE_LENGTH = 10;
const GROUP = JOIN_CODE_LENGTH / 2;

/** Characters people type by mistake, mapped the way Crockford's spec says. */
const CONFUSABLE: Record<string, string> = { I: '1', L: '1', O: '0', U: 'V' };

/** Makes a code from random bytes (one byte per character; 256 is a multiple of 32, so no bias). */
export function codeFromBytes(bytes: Uint8Array): string {
  if (bytes.length < JOIN_CODE_LENGTH) throw new Error('not enough random bytes for a join code');
  let out = '';
  for (let i = 0; i < JOIN_CODE_LENGTH; i++) out += JOIN_CODE_ALPHABET[bytes[i]! % 32];
  return out;
}

/** Shows a code in two groups: ABCDE-FGHJK. */
export function formatJoinCode(code: string): string {
  return `${code.slice(0, GROUP)}-${code.slice(GROUP)}`;
}

/**
 * Accepts what a person types (spaces, dashes, lower case, confusable letters) and returns the
 * canonical code, or null when it cannot be one.
 */
export function normalizeJoinCode(input: string): string | null {
  if (input.length > 64) return null;
  const cleaned = input.toUpperCase().replace(/[\s-]/g, '');
  let out = '';
  for (const ch of cleaned) {
    const c = CONFUSABLE[ch] ?? ch;
    if (!JOIN_CODE_ALPHABET.includes(c)) return null;
    out += c;
  }
  return out.length === JOIN_CODE_LENGTH ? out : null;
}
