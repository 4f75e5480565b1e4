import type { EndReason } from '../../common/session-state.js';

/**
 * Where a session's timers run when several brokers share one database (cluster mode,
 * broker/cluster/). Exactly one instance at a time runs a session's deadlines: the one holding its
 * lease. The lifecycle asks this port before it arms timers and tells it of every end, so the
 * other instances close their sockets. Without it (one broker) every timer runs here.
 */
export interface TimerPlacement {
  /** This instance holds the session's lease: its timers run here. */
  owns(sessionId: string): boolean;
  /**
   * Timers are wanted for a session this instance does not own (yet): claim its lease if nobody
   * holds it (the lease's winner re-arms from the stored row), or tell the owner to re-arm.
   */
  place(sessionId: string): void;
  /** The session ended here (stored): every instance drops it and closes its sockets. */
  ended(sessionId: string, reason: EndReason): void;
}
