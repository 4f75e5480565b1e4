import crypto from 'node:crypto';

export interface TurnConfig { urls: string[]; secret: string; ttlSeconds: number }
export interface IceServer { urls: string[]; username: string; credential: string }

export function issueTurnCredentials(cfg: TurnConfig, p: { sessionId: string; role: 'analyst' | 'end_user'; sessionExpiresAtMs: number; nowMs: number }): IceServer & { expires_at: number } {
  const expiry = Math.floor(Math.min(p.nowMs + cfg.ttlSeconds * 1000, p.sessionExpiresAtMs) / 1000);
  const username = `${expiry}:${p.sessionId}.${p.role}`;
  const credential = crypto.createHmac('sha1', cfg.secret).update(username).digest('base64');
  return { urls: cfg.urls, username, credential, expires_at: expiry * 1000 };
}
