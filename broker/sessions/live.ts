import type { Capability, GrantableCapability } from '../../common/capabilities.js';
import type { RecordingMode } from '../../common/recording.js';
import type { GrantDirection } from '../../common/grant-direction.js';
import type { SessionState } from '../../common/session-state.js';
import type { LiveWatch } from './live-watch.js';

/** The recording of an active session, as the stall watch keeps it (recording-watch.ts). */
export interface LiveRecording {
  mode: RecordingMode;
  lastAckAt: number;
  /** Control was taken back because no chunk was acked for too long; asking again is refused until one is. */
  suspended: boolean;
  acked(now: number): void;
  stop(): void;
}

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
  /** The analyst account's token epoch the session was asked for under (the row's analyst_epoch). */
  analystEpoch: number;
  capabilities: Capability[];
  endUserJkt: string | null;
  expiresAt: number | null;
  hardDeadline: number | null;
  granted: Set<GrantableCapability>;
  /** The way each granted clipboard or files grant lets data go (common/grant-direction.ts). */
  grantDirections: Map<GrantableCapability, GrantDirection>;
  /** Grant requests waiting for the end user's answer, by request id. */
  pendingGrants: Map<string, { capability: GrantableCapability; direction: GrantDirection | null; grantId: string; cancelTimeout: () => void }>;
  /** Extension waiting for approval or consent. */
  /** `deciding`: a decision on it is being written; a second one at the same time is refused. */
  pendingExtension: { id: string; minutes: number; state: 'awaiting_approval' | 'awaiting_consent'; deciding?: boolean } | null;
  timers: (() => void)[];
  /** The kill switch's reason, told to both parties with the end. */
  endNote?: string;
  /** Set once the session is active (null before, and for sessions reloaded before it was known). */
  recording: LiveRecording | null;
  /** Who watches, the watcher requirement, a watcher's suspension (watchers.ts); null until loaded here. */
  watch: LiveWatch | null;
}

export function clearTimers(s: LiveSession): void {
  for (const cancel of s.timers) cancel();
  s.timers = [];
}

/** Timers of the watch state stop with the session here. */
export function stopWatch(live: LiveSession): void {
  live.watch?.short?.cancel?.();
  if (live.watch?.short) live.watch.short.cancel = null;
}
