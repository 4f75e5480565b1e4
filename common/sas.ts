/**
 * Short authentication string: both people read the same six digits aloud only if both peer
 * connections negotiated the same pair of DTLS certificates. A broker (or anyone relaying SDP)
 * that swaps fingerprints to sit in the middle gives each side a different pair, so different
 * digits. Uses WebCrypto, present in browsers and in Node, so it runs unchanged on both ends.
 */

const FINGERPRINT = /^a=fingerprint:sha-256 ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31})\s*$/m;

export function sdpFingerprint(sdp: string): string | null {
  const m = FINGERPRINT.exec(sdp);
  return m ? m[1]!.toUpperCase() : null;
}

/**
 * Derives the digits from the end user's and the analyst's fingerprints, in that fixed order, so
 * both sides compute the same string whoever made the offer.
 */
export async function shortAuthString(endUserFingerprint: string, analystFingerprint: string): Promise<string> {
  const input = new TextEncoder().encode(`chaperone-sas-v1\n${endUserFingerprint.toUpperCase()}\n${analystFingerprint.toUpperCase()}`);
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', input));
  const n = ((digest[0]! << 24) | (digest[1]! << 16) | (digest[2]! << 8) | digest[3]!) >>> 0;
  const digits = (n % 1_000_000).toString().padStart(6, '0');
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}
