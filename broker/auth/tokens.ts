import crypto from 'node:crypto';
import type { JWTPayload } from 'jose';
import { JwsError, decodeJws, signJws, verifyJwsSignature } from './jws.js';
import type { KeyRing } from '../keys.js';

/** Each use has its own `typ` and audience, so a token minted for one purpose is useless for another. */
export const TOKEN_KINDS = {
  access: { typ: 'at+jwt', aud: 'chaperone-api' },
  session: { typ: 'chaperone-session+jwt', aud: 'signaling' },
  offer: { typ: 'chaperone-offer+jwt', aud: 'chaperone-client' },
  /** Between the one-time password and the account's own password (broker/auth/first-sign-in.ts). */
  setup: { typ: 'chaperone-setup+jwt', aud: 'chaperone-first-sign-in' },
  /** Opens one watch socket of one live session (broker/sessions/watchers.ts). */
  watch: { typ: 'chaperone-watch+jwt', aud: 'watch' },
} as const;
export type TokenKind = keyof typeof TOKEN_KINDS;

export class TokenError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface TokenService {
  sign(kind: TokenKind, claims: JWTPayload, expiresAtMs: number): Promise<{ token: string; jti: string }>;
  verify(kind: TokenKind, token: string): Promise<JWTPayload & { jti: string }>;
}

/**
 * Tokens whose signature already checked out, by their exact text, with the key that signed them.
 * An analyst's page presents one access token on every call (it polls once a second), and an
 * Ed25519 verification costs about 0.2 ms here; the same bytes under the same key verify the same
 * way forever, so only the signature check is skipped. Everything else (key still published,
 * type, audience, expiry) is checked on every use. Bounded: the oldest entries go first.
 * A token this process signed goes in when it is made: those exact bytes were signed with that
 * key here, so checking the signature when they come back (a session token at the signaling
 * socket, moments later) could only say yes. Another instance has not seen them and checks.
 */
class VerifiedSignatures {
  private readonly byToken = new Map<string, string>();
  constructor(private readonly max = 2048) {}
  has(token: string, kid: string): boolean {
    return this.byToken.get(token) === kid;
  }
  add(token: string, kid: string): void {
    if (this.byToken.size >= this.max) this.byToken.delete(this.byToken.keys().next().value as string);
    this.byToken.set(token, kid);
  }
}

export function createTokenService(keys: KeyRing, issuer: string, now: () => number = Date.now): TokenService {
  const verified = new VerifiedSignatures();
  return {
    async sign(kind, claims, expiresAtMs) {
      const k = keys.active;
      const jti = crypto.randomUUID();
      const token = signJws(
        { typ: TOKEN_KINDS[kind].typ, kid: k.kid },
        { ...claims, iss: issuer, aud: TOKEN_KINDS[kind].aud, iat: Math.floor(now() / 1000), exp: Math.floor(expiresAtMs / 1000), jti },
        k.privateKey,
      );
      // Offers are checked by the end user's client, never presented back to the broker.
      if (kind !== 'offer') verified.add(token, k.kid);
      return { token, jti };
    },
    async verify(kind, token) {
      let d;
      try {
        d = decodeJws(token);
      } catch (e) {
        throw new TokenError('bad_token', e instanceof JwsError ? `token rejected: ${e.message}` : 'token is not a well-formed JWS');
      }
      const kid = d.header.kid;
      const key = typeof kid === 'string' ? keys.published(now()).find((k) => k.kid === kid) : undefined;
      if (!key) throw new TokenError('bad_token', 'token was signed with an unknown key');
      if (!verified.has(token, key.kid)) {
        if (!verifyJwsSignature(d, key.publicKey)) throw new TokenError('bad_token', 'token signature is invalid');
        verified.add(token, key.kid);
      }
      if (d.header.typ !== TOKEN_KINDS[kind].typ) throw new TokenError('bad_token', 'token is of another type');
      const p = d.payload;
      const aud = TOKEN_KINDS[kind].aud;
      if (p.iss !== issuer) throw new TokenError('bad_token', 'token is from another issuer');
      if (!(p.aud === aud || (Array.isArray(p.aud) && p.aud.includes(aud)))) throw new TokenError('bad_token', 'token is for another audience');
      if (typeof p.jti !== 'string' || typeof p.iat !== 'number' || typeof p.exp !== 'number') throw new TokenError('bad_token', 'token lacks exp, iat or jti');
      const nowS = Math.floor(now() / 1000);
      // At its exp second a token is already expired (RFC 7519: "on or after").
      if (p.exp <= nowS) throw new TokenError('token_expired', 'token has expired');
      if (typeof p.nbf === 'number' && p.nbf > nowS) throw new TokenError('bad_token', 'token is not valid yet');
      return p as JWTPayload & { jti: string };
    },
  };
}
