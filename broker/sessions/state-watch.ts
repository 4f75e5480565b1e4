import type { SessionState } from '../../common/session-state.js';

type Listener = (state: SessionState) => void;

/**
 * Who wants to hear the moment a session changes state (the analyst's event stream,
 * broker/routes/session-events.ts), so the analyst's page need not poll to learn the session went
 * live. In this process only: on a cluster the polling route stays the way to hear of a move made
 * by another instance.
 */
export class StateWatch {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly closers = new Set<() => void>();

  on(sessionId: string, fn: Listener): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.listeners.delete(sessionId);
    };
  }

  notify(sessionId: string, state: SessionState): void {
    for (const fn of [...(this.listeners.get(sessionId) ?? [])]) fn(state);
  }

  /** Open streams register how to end them, so a closing broker does not wait on them. */
  holdOpen(close: () => void): () => void {
    this.closers.add(close);
    return () => this.closers.delete(close);
  }

  closeAll(): void {
    for (const c of [...this.closers]) c();
    this.closers.clear();
  }
}
