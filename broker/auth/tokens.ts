import crypto from 'node:crypto';
import { SignJWT, jwtVerify, decodeProtectedHeader, errors as joseErrors, type JWTPayload } from 'jose';
import type { KeyRing } from '../keys.js';

/** Each use has its own `typ` and audience, so a token minted for one purpose is useless for another. */
export const TOKEN_KINDS = {
  access: { typ: 'at+jwt', aud: 'chaperone-api' },
  session: { typ: 'chaperone-session+jwt', aud: 'signaling' },
  offer: { typ: 'chaperone-offer+jwt', aud: 'chaperone-client' },
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

export function createTokenService(keys: KeyRing, issuer: string, now: () => number = Date.now): TokenService {
  return {
    async sign(kind, claims, expiresAtMs) {
      const k = keys.active;
      const jti = crypto.randomUUID();
      const iat = Math.floor(now() / 1000);
      const token = await new SignJWT({ ...claims })
        .setProtectedHeader({ alg: 'EdDSA', typ: TOKEN_KINDS[kind].typ, kid: k.kid })
        .setIssuer(issuer)
        .setAudience(TOKEN_KINDS[kind].aud)
        .setIssuedAt(iat)
        .setExpirationTime(Math.floor(expiresAtMs / 1000))
        .setJti(jti)
        .sign(k.privateKey);
      return { token, jti };
    },
    async verify(kind, token) {
      let kid: unknown;
      try {
        const header = decodeProtectedHeader(token);
        kid = header.kid;
        if (header.alg !== 'EdDSA') throw new TokenError('bad_token', `algorithm ${String(header.alg)} is not accepted`);
      } catch (e) {
        if (e instanceof TokenError) throw e;
        throw new TokenError('bad_token', 'token is not a well-formed JWS');
      }
      const key = typeof kid === 'string' ? keys.published(now()).find((k) => k.kid === kid) : undefined;
      if (!key) throw new TokenError('bad_token', 'token was signed with an unknown key');
      try {
        const { payload } = await jwtVerify(token, key.publicKey, {
          algorithms: ['EdDSA'],
          typ: TOKEN_KINDS[kind].typ,
          audience: TOKEN_KINDS[kind].aud,
          issuer,
          requiredClaims: ['exp', 'jti', 'iat'],
          currentDate: new Date(now()),
        });
        return payload as JWTPayload & { jti: string };
      } catch (e) {
        if (e instanceof joseErrors.JWTExpired) throw new TokenError('token_expired', 'token has expired');
        if (e instanceof joseErrors.JOSEError) throw new TokenError('bad_token', `token rejected: ${e.code}`);
        throw new TokenError('bad_token', 'token rejected');
      }
    },
  };
}
