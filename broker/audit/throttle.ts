import type { AuditEventInput } from '../../common/audit-chain.js';

/** Records written at once before the throttle holds a key to its rate. */
export const REFUSAL_BURST = 10;
/** Records per second per key after the burst. */
export const REFUSALS_PER_S = 1;
/** Keys tracked at once; beyond it, new keys share one (so memory stays bounded under a spray). */
const MAX_KEYS = 20_000;
const OVERFLOW_KEY = '(too many keys)';

interface KeyState {
  tokens: number;
  last: number;
  /** Refusals counted for this key since its last record, not written on their own. */
  suppressed: number;
  /** The latest of them, written as the summary when the key may write again. */
  sample: AuditEventInput | null;
}

/**
 * The audit records of refusals, throttled per key (one socket, or one source for callers
 * without an identity): a burst of REFUSAL_BURST, then REFUSALS_PER_S. A refusal held back is
 * counted, not lost: the key's next record says how many it stands for besides itself
 * (`meta.suppressed`), and a key that went quiet with some held back gets a summary record (the
 * latest held-back refusal, with the count of the others). So records + their `suppressed`
 * counts add up to every refusal. In memory, per broker: a restart forgets at most one burst.
 */
export class RefusalThrottle {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly burst = REFUSAL_BURST,
    private readonly perSecond = REFUSALS_PER_S,
  ) {}

  /** The record to write now (with `suppressed` when some were held back), or null: counted instead. */
  admit(key: string, input: AuditEventInput, now: number): AuditEventInput | null {
    const st = this.state(key, now);
    this.refill(st, now);
    if (st.tokens >= 1) {
      st.tokens -= 1;
      const held = st.suppressed;
      st.suppressed = 0;
      st.sample = null;
      return held > 0 ? withSuppressed(input, held) : input;
    }
    st.suppressed++;
    st.sample = input;
    return null;
  }

  /**
   * Summaries for keys holding refusals back: those whose rate allows a record again, or all of
   * them when `force` (a flush, a shutdown). Idle keys are forgotten.
   */
  drain(now: number, force: boolean): AuditEventInput[] {
    const out: AuditEventInput[] = [];
    for (const [key, st] of this.keys) {
      this.refill(st, now);
      if (st.suppressed > 0 && st.sample && (force || st.tokens >= 1)) {
        st.tokens = Math.max(0, st.tokens - 1);
        // The sample is itself one of the held-back refusals: it stands for itself and the rest.
        out.push(withSuppressed(st.sample, st.suppressed - 1));
        st.suppressed = 0;
        st.sample = null;
      } else if (st.suppressed === 0 && st.tokens >= this.burst) {
        this.keys.delete(key);
      }
    }
    return out;
  }

  private state(key: string, now: number): KeyState {
    let st = this.keys.get(key);
    if (!st) {
      const k = this.keys.size >= MAX_KEYS ? OVERFLOW_KEY : key;
      st = this.keys.get(k);
      if (!st) {
        st = { tokens: this.burst, last: now, suppressed: 0, sample: null };
        this.keys.set(k, st);
      }
    }
    return st;
  }

  private refill(st: KeyState, now: number): void {
    st.tokens = Math.min(this.burst, st.tokens + (Math.max(0, now - st.last) / 1000) * this.perSecond);
    st.last = now;
  }
}

function withSuppressed(input: AuditEventInput, n: number): AuditEventInput {
  return n > 0 ? { ...input, meta: { ...(input.meta ?? {}), suppressed: n } } : input;
}
