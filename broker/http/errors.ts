/**
 * Every API error leaves the broker in one shape: { "error": { "code", "message" } }. ApiError is
 * for refusals of the HTTP layer itself (input, credentials, readiness); the domain throws
 * DomainError (broker/domain-errors.ts), which broker/app.ts maps to a status.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, code = 'bad_request') => new ApiError(400, code, message);
export const forbidden = (message: string, code = 'forbidden') => new ApiError(403, code, message);

export function errorBody(code: string, message: string, retryAfterS?: number): { error: { code: string; message: string; retry_after_s?: number } } {
  return { error: { code, message, ...(retryAfterS !== undefined ? { retry_after_s: retryAfterS } : {}) } };
}
