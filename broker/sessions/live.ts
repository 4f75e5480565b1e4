import type { Capability, GrantableCapability } from '../../common/capabilities.js';
import type { SessionState } from '../../common/session-state.js';
import { conflict } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';

/**
 * What the broker keeps in memory for a session that has not ended: enough to relay and decide
 * without a database round trip on every frame. The database stays the source of truth.
 */
export interface LiveSession {
  id: string;
  state: SessionState;
  ticket: string;
  analystId: string;
  analystUsername: string;
  capabilities: Capability[];
  endUserJkt: string | null;
  expiresAt: number | null;
  hardDeadline: number | null;
  granted: Set<GrantableCapability>;
  /** Grant requests waiting for the end user's answer, by request id. */
  pendingGrants: Map<string, { capability: GrantableCapability; grantId: string }>;
  /** Extension waiting for approval or consent. */
  /** `deciding`: a decision on it is being written; a second one at the same time is refused. */
  pendingExtension: { id: string; minutes: number; state: 'awaiting_approval' | 'awaiting_consent'; deciding?: boolean } | null;
  timers: (() => void)[];
}

export function clearTimers(s: LiveSession): void {
  for (const cancel of s.timers) cancel();
  s.timers = [];
}

/** Starts keeping a session in memory (a new one, or one reloaded after a restart). */
export function track(core: SessionCore, r: Row, analystUsername: string): LiveSession {
  const live: LiveSession = {
    id: r.id,
    state: r.state as SessionState,
    ticket: r.ticket_ref,
    analystId: r.analyst_id,
    analystUsername,
    capabilities: r.capabilities.split(',') as Capability[],
    endUserJkt: r.end_user_jkt,
    expiresAt: r.expires_at,
    hardDeadline: r.hard_deadline,
    granted: new Set(),
    pendingGrants: new Map(),
    pendingExtension: null,
    timers: [],
  };
  core.live.set(r.id, live);
  return live;
}

/** The in-memory session for a row that has not ended. */
export function mustLive(core: SessionCore, r: Row): LiveSession {
  const live = core.live.get(r.id);
  if (live) return live;
  if (r.state === 'ended') throw conflict('the session has ended', 'illegal_transition');
  return track(core, r, '');
}
