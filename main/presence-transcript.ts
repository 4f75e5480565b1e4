import type { TranscriptEntry } from '../common/recording.js';

interface Seen {
  watchers: Map<string, string>;
  suspended: boolean;
}

/**
 * Turns the broker's presence and control frames, as the page passes them on, into transcript
 * lines: a watcher who came or went, control suspended or resumed. Only the changes are written,
 * so the same frame told twice (a reconnect) writes nothing; names are kept, never the note.
 */
export class PresenceTranscript {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly write: (sessionId: string, e: TranscriptEntry) => void,
    private readonly now: () => number,
  ) {}

  update(sessionId: string, watchers: readonly { id: string; name: string }[], suspended: boolean): number {
    const before = this.seen.get(sessionId) ?? { watchers: new Map<string, string>(), suspended: false };
    const after: Seen = { watchers: new Map(watchers.map((w) => [w.id, w.name])), suspended };
    const t = this.now();
    let written = 0;
    const line = (e: TranscriptEntry) => {
      this.write(sessionId, e);
      written++;
    };
    for (const [id, name] of after.watchers) if (!before.watchers.has(id)) line({ t, kind: 'watcher_joined', why: name });
    for (const [id, name] of before.watchers) if (!after.watchers.has(id)) line({ t, kind: 'watcher_left', why: name });
    if (suspended !== before.suspended) line({ t, kind: suspended ? 'control_suspended' : 'control_resumed' });
    this.seen.set(sessionId, after);
    return written;
  }

  forget(sessionId: string): void {
    this.seen.delete(sessionId);
  }
}
