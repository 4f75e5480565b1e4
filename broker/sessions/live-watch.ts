import type { WatcherRole, WatchTerms } from '../../common/watch.js';

// The watch state's shape on its own, so a live session holds it without importing the code that
// changes it (watchers.ts, which imports the live session).

export interface Watcher {
  id: string;
  accountId: string;
  username: string;
  name: string;
  role: WatcherRole;
  organisation: string;
  since: number;
  /** Counts towards the requirement: in one of its roles, and not the approver of the session. */
  counts: boolean;
}

export interface LiveWatch {
  terms: WatchTerms;
  analyst: { name: string; organisation: string; since: number };
  approverId: string | null;
  watchers: Map<string, Watcher>;
  /** A watcher's suspension of control (kept in the row too, so it outlives a restart). */
  suspendedBy: { name: string; note: string | null } | null;
  /** When the requirement was first met: a leave below it suspends from then on. */
  metAt: number | null;
  /** Too few required watchers (after they were once enough); with on_leave end, the session ends at endsAt. */
  short: { since: number; endsAt: number | null; cancel: (() => void) | null } | null;
}
