import type { GrantableCapability } from '../../common/capabilities.js';
import type { SessionRole } from '../../common/roles.js';
import type { EndReason } from '../../common/session-state.js';
import type { LiveSession } from './live.js';

/**
 * What the lifecycle tells the parties of a live session. The signaling hub implements it (it
 * pushes frames); the session service calls it and knows nothing of sockets.
 */
export interface SessionEvents {
  ended(s: LiveSession, reason: EndReason): void;
  activated(s: LiveSession): void;
  grantChanged(s: LiveSession, capability: GrantableCapability, granted: boolean, by: SessionRole | 'broker', requestId?: string, reason?: 'timeout'): void;
  grantRequested(s: LiveSession, requestId: string, capability: GrantableCapability): void;
  extension(s: LiveSession, e: ExtensionEvent): void;
  tokensRenewed(s: LiveSession, tokens: Partial<Record<SessionRole, { token: string; expires_at: number }>>): void;
  expiryWarning(s: LiveSession, secondsLeft: number): void;
}

export interface ExtensionEvent {
  id: string;
  minutes: number;
  phase: 'awaiting_approval' | 'offer' | 'result';
  accepted?: boolean;
  newExpiresAt?: number;
  by?: 'approver' | 'end_user';
  /** The approver's reason for refusing. */
  reason?: string | null;
}

/** Where post-session hooks go (broker/hooks/outbound.ts): queued when a session ends. */
export interface PostSessionHooks {
  enqueue(eventType: string, data: Record<string, unknown>): void;
}
