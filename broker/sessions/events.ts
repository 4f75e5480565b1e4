import type { GrantableCapability } from '../../common/capabilities.js';
import type { GrantChangeReason } from '../../common/control/refusals.js';
import type { GrantDirection } from '../../common/grant-direction.js';
import type { SessionRole } from '../../common/roles.js';
import type { EndReason } from '../../common/session-state.js';
import type { LiveSession } from './live.js';

/**
 * What the lifecycle tells the parties of a live session. The signaling hub implements it (it
 * pushes frames); the session service calls it and knows nothing of sockets.
 */
export interface SessionEvents {
  ended(s: LiveSession, reason: EndReason): void;
  /**
   * This instance stored the end (it won the move to `ended`): once per session across a
   * cluster, where `ended` comes on every instance that held a copy.
   */
  endStored(reason: EndReason): void;
  activated(s: LiveSession): void;
  /** `reason`: why the end user's machine refused although the end user allowed, or `timeout` when nobody answered. */
  /** `direction`: the way a clipboard or files grant lets data go. */
  grantChanged(s: LiveSession, capability: GrantableCapability, granted: boolean, by: SessionRole | 'broker', requestId?: string, reason?: GrantChangeReason, direction?: GrantDirection): void;
  /** `mfaAt`: when the analyst last passed a second factor (ms), for the end user's prompt. */
  grantRequested(s: LiveSession, requestId: string, capability: GrantableCapability, mfaAt: number, direction?: GrantDirection): void;
  extension(s: LiveSession, e: ExtensionEvent): void;
  tokensRenewed(s: LiveSession, tokens: Partial<Record<SessionRole, { token: string; expires_at: number }>>): void;
  expiryWarning(s: LiveSession, secondsLeft: number): void;
  /** Someone joined or left: everyone in the session gets the whole list (watchers.ts). */
  presenceChanged(s: LiveSession): void;
  /** Control was suspended or resumed, or why changed. */
  controlChanged(s: LiveSession): void;
  /** A watcher's note to the analyst; true if the analyst's socket took it. */
  watchNote(s: LiveSession, from: string, text: string, at: number): boolean;
  /** A recording chunk was stored and acked: watchers get it. */
  chunkStored(s: LiveSession, seq: number, bytes: Buffer): void;
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
  /** The approver who refused, by display name. */
  approverName?: string;
}

/** One delivery of a post-session hook, as the outbox stores it (broker/hooks/outbound.ts). */
export interface HookDelivery {
  id: string;
  event_type: string;
  url: string;
  payload: string;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  delivered_at: number | null;
}

/**
 * Where post-session hooks go (broker/hooks/outbound.ts). The session's end writes the deliveries
 * into the outbox in the same transaction as the end itself, then tells the dispatcher to look.
 */
export interface PostSessionHooks {
  /** The outbox rows for an event: one per hook subscribed to it (none when none is). */
  deliveries(eventType: string, data: Record<string, unknown>, now: number): HookDelivery[];
  /** New rows are in the outbox: deliver them soon. */
  kick(): void;
}
