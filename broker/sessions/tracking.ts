import type { Capability } from '../../common/capabilities.js';
import type { SessionState } from '../../common/session-state.js';
import { conflict } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import type { LiveSession } from './live.js';

/** Starts keeping a session in memory (a new one, or one reloaded after a restart). */
export function track(core: SessionCore, r: Row, analystUsername: string): LiveSession {
  const live: LiveSession = {
    id: r.id,
    state: r.state as SessionState,
    ticket: r.ticket_ref,
    analystId: r.analyst_id,
    analystUsername,
    analystEpoch: r.analyst_epoch,
    capabilities: r.capabilities.split(',') as Capability[],
    endUserJkt: r.end_user_jkt,
    expiresAt: r.expires_at,
    hardDeadline: r.hard_deadline,
    granted: new Set(),
    grantDirections: new Map(),
    pendingGrants: new Map(),
    pendingExtension: null,
    timers: [],
    recording: null,
    watch: null,
  };
  core.live.set(r.id, live);
  return live;
}

/** The in-memory session for a row that has not ended. */
export function mustLive(core: SessionCore, r: Row): LiveSession {
  const live = core.live.get(r.id);
  if (live && core.placement) {
    // In a cluster the copy here may be older than the row the caller just read.
    live.state = r.state as SessionState;
    live.expiresAt = r.expires_at;
    live.hardDeadline = r.hard_deadline;
    live.endUserJkt = r.end_user_jkt;
  }
  if (live) return live;
  if (r.state === 'ended') throw conflict('the session has ended', 'illegal_transition');
  return track(core, r, '');
}
