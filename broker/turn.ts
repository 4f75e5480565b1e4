import crypto from 'node:crypto';

export interface TurnConfig { urls: string[]; secret: string; ttlSeconds: number }
export interface IceServer { urls: string[]; username: string; credential: string }

/**
 * Mints TURN credentials in coturn's `use-auth-secret` (TURN REST API) scheme, so the broker never
 * has to talk to coturn: coturn recomputes the password from the username and the shared secret,
 * and refuses the username once its leading timestamp has passed.
 *
 * The expiry is capped at the session end because coturn is the only thing that enforces it: a
 * relay credential that outlived its session would let an ended or revoked peer open new relays.
 * coturn checks the expiry only when it first authenticates a client's 5-tuple (the Allocate). It
 * keeps the key for that allocation and accepts Refreshes after the expiry (see
 * test/integration/turn.test.ts), so the cap stops new relays but does not cut one already open.
 *
 * `expires_at` is in milliseconds like every other `expires_at` the API returns; the username
 * carries whole seconds because that is what coturn parses.
 */
export function issueTurnCredentials(
  cfg: TurnConfig,
  p: { sessionId: string; role: 'analyst' | 'end_user'; sessionExpiresAtMs: number; nowMs: number },
): IceServer & { expires_at: number } {
  // An empty secret would make every HMAC predictable to anyone who reads this code.
  if (cfg.secret.length === 0) throw new Error('TURN secret is empty');
  if (!Number.isFinite(cfg.ttlSeconds) || cfg.ttlSeconds <= 0) throw new Error('TURN ttlSeconds must be a positive number');
  // coturn takes the timestamp from before the first ':' only when that part is all digits; a ':'
  // in the session id would still parse, but keeping it out makes the username unambiguous.
  if (p.sessionId.includes(':')) throw new Error('session id must not contain ":"');

  // Floor, never round: rounding up could push the expiry past the session end by up to a second.
  const expirySeconds = Math.floor(Math.min(p.nowMs + cfg.ttlSeconds * 1000, p.sessionExpiresAtMs) / 1000);
  const username = `${expirySeconds}:${p.sessionId}.${p.role}`;
  const credential = crypto.createHmac('sha1', cfg.secret).update(username).digest('base64');
  return { urls: [...cfg.urls], username, credential, expires_at: expirySeconds * 1000 };
}
