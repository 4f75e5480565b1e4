/**
 * What the broker's domain (sessions/, auth/accounts.ts) throws when it refuses something: a
 * stable `code` clients can act on, a message for people, and a `kind` that says what sort of
 * refusal it is. The doors translate the kind: broker/app.ts to an HTTP status, the signaling hub
 * to an error frame. The domain itself knows nothing of HTTP.
 */
export const DOMAIN_ERROR_KINDS = ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'rate_limited', 'unavailable'] as const;
export type DomainErrorKind = (typeof DOMAIN_ERROR_KINDS)[number];

export class DomainError extends Error {
  constructor(
    readonly kind: DomainErrorKind,
    readonly code: string,
    message: string,
    /** For a rate limit: how many seconds until it lifts (sent as Retry-After and retry_after_s). */
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const badRequest = (message: string, code = 'bad_request') => new DomainError('bad_request', code, message);
export const unauthorized = (message: string, code = 'unauthorized') => new DomainError('unauthorized', code, message);
export const forbidden = (message: string, code = 'forbidden') => new DomainError('forbidden', code, message);
export const notFound = (message = 'not found', code = 'not_found') => new DomainError('not_found', code, message);
export const conflict = (message: string, code = 'conflict') => new DomainError('conflict', code, message);
export const rateLimited = (message: string, code = 'rate_limited', retryAfterS?: number) => new DomainError('rate_limited', code, message, retryAfterS);
export const unavailable = (message: string, code = 'unavailable') => new DomainError('unavailable', code, message);
