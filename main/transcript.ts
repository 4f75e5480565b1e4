import type { TranscriptBatch, TranscriptEntry } from '../common/recording.js';
import { MAX_TRANSCRIPT_BATCHES } from '../common/recording.js';

/** Entries kept per session between uploads; past it the oldest go (the count says so). */
const MAX_PENDING = 5000;
const MAX_BATCH = 500;

/**
 * The transcript as main's input gate saw it, per session, until it is uploaded in numbered
 * batches. Key presses of one second are one entry with a count. A batch that did not get through
 * is sent again with the same seq and the same entries (the broker refuses other entries for a seq).
 */
export class TranscriptBuffer {
  private readonly pending = new Map<string, TranscriptEntry[]>();
  private readonly inFlight = new Map<string, TranscriptBatch>();
  private readonly nextSeq = new Map<string, number>();
  readonly lost = new Map<string, number>();

  add(sessionId: string, e: TranscriptEntry): void {
    let list = this.pending.get(sessionId);
    if (!list) this.pending.set(sessionId, (list = []));
    const last = list[list.length - 1];
    if (e.kind === 'keys' && last?.kind === 'keys' && Math.floor(last.t / 1000) === Math.floor(e.t / 1000)) {
      last.count = Math.min(100_000, (last.count ?? 0) + (e.count ?? 1));
      return;
    }
    list.push(e);
    if (list.length > MAX_PENDING) {
      list.shift();
      this.lost.set(sessionId, (this.lost.get(sessionId) ?? 0) + 1);
    }
  }

  /** The batch to send now (the one that failed last time first), or null. */
  take(sessionId: string): TranscriptBatch | null {
    const again = this.inFlight.get(sessionId);
    if (again) return again;
    const list = this.pending.get(sessionId);
    const seq = this.nextSeq.get(sessionId) ?? 0;
    if (!list || list.length === 0 || seq > MAX_TRANSCRIPT_BATCHES) return null;
    const batch = { seq, entries: list.splice(0, MAX_BATCH) };
    this.inFlight.set(sessionId, batch);
    return batch;
  }

  /** The broker acked it (or refused it for good): the next batch gets the next seq. */
  done(sessionId: string, seq: number): void {
    if (this.inFlight.get(sessionId)?.seq !== seq) return;
    this.inFlight.delete(sessionId);
    this.nextSeq.set(sessionId, seq + 1);
  }

  forget(sessionId: string): void {
    this.pending.delete(sessionId);
    this.inFlight.delete(sessionId);
    this.nextSeq.delete(sessionId);
    this.lost.delete(sessionId);
  }
}
