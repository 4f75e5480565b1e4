import type { SessionRole } from './roles.js';

/**
 * Short authentication string: both people read the same six digits aloud only if both peer
 * connections negotiated the same pair of DTLS certificates. A relay that swaps fingerprints to
 * sit in the middle gives each side a different pair.
 *
 * The digits also depend on a fresh random value from each side, committed to before either side
 * has seen the other's and revealed only after the DTLS handshake (as ZRTP does). Without that, a
 * middleman that sees both real fingerprints before it picks its own certificates could grind
 * certificates until both sides showed the same digits; with it, the digits depend on values it
 * learns only after it is bound to its own, so each session gives it one chance in 1,000,000.
 * The exact construction is in docs/session-protocol.md. Pure, over WebCrypto (browsers and Node).
 */

export const SAS_SECRET_BYTES = 32;
/** base64url (no padding) of 32 bytes: a secret, and a SHA-256 commitment. */
export const B64URL_32 = /^[A-Za-z0-9_-]{43}$/;

const FINGERPRINT = /^a=fingerprint:sha-256 ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31})\s*$/m;
const COMMIT_LABEL = 'chaperone-sas-commit-v2';
const CODE_LABEL = 'chaperone-sas-v2';

/** The `sha-256` fingerprint value of an SDP, upper case, without the `sha-256 ` prefix. */
export function sdpFingerprint(sdp: string): string | null {
  const m = FINGERPRINT.exec(sdp);
  return m ? m[1]!.toUpperCase() : null;
}

/** A side's fresh random value for one session, base64url. */
export function newSasSecret(): string {
  return base64url(globalThis.crypto.getRandomValues(new Uint8Array(SAS_SECRET_BYTES)));
}

/** What a side sends first, before it has seen anything of the other's value. */
export async function sasCommitment(role: SessionRole, secret: string): Promise<string> {
  return base64url(await sha256(`${COMMIT_LABEL}\n${role}\n${secret}`));
}

/** Whether a revealed value is the one `role` committed to. Malformed values never match. */
export async function revealMatches(role: SessionRole, value: string, commitment: string): Promise<boolean> {
  if (!B64URL_32.test(value) || !B64URL_32.test(commitment)) return false;
  return constantTimeEqual(await sasCommitment(role, value), commitment);
}

export interface SasInputs {
  endUserFingerprint: string;
  analystFingerprint: string;
  /** The end user's revealed value (base64url, as sent). */
  endUserSecret: string;
  analystSecret: string;
}

/**
 * The six digits, "123 456", from both fingerprints and both revealed values, the end user's
 * first on both sides, so both compute the same string whoever made the offer.
 */
export async function shortAuthString(x: SasInputs): Promise<string> {
  const digest = await sha256(`${CODE_LABEL}\n${x.endUserFingerprint.toUpperCase()}\n${x.analystFingerprint.toUpperCase()}\n${x.endUserSecret}\n${x.analystSecret}`);
  const n = ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0;
  const digits = (n % 1_000_000).toString().padStart(6, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

function base64url(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}
