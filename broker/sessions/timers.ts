import { DomainError } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import { deadlineOf } from './deadlines.js';
import { endSession } from './ending.js';
import { clearTimers, type LiveSession } from './live.js';
import { SYSTEM } from './types.js';

/**
 * Arms the timers of a session for the state its row is in: the deadline that ends it (from the
 * one table in deadlines.ts) and, for an active session, the warnings before the end. Decided
 * from stored times, so a restart re-arms the same ones.
 */
export function scheduleTimers(core: SessionCore, live: LiveSession, r: Row): void {
  clearTimers(live);
  // In a cluster the lease holder runs them; a change made here is re-armed there.
  if (core.placement && !core.placement.owns(live.id)) return core.placement.place(live.id);
  const d = deadlineOf(r);
  if (!d) return;
  at(core, live, d.at, () => endSession(core, r.id, d.reason, SYSTEM, {}, d.why ? { why: d.why } : {}));
  for (const s of d.warnings) {
    if (d.at - s * 1000 > core.clock.now()) at(core, live, d.at - s * 1000, () => core.events?.expiryWarning(live, s));
  }
}

function at(core: SessionCore, live: LiveSession, when: number, fn: () => unknown): void {
  const cancel = core.clock.at(when, () => {
    Promise.resolve(fn()).catch((err: unknown) => {
      // A refusal means someone else ended or moved the session first: nothing to report.
      if (!(err instanceof DomainError)) process.stderr.write(`session timer failed: ${String(err)}\n`);
    });
  });
  live.timers.push(cancel);
}
