/**
 * Fixed-window counters keyed by source. Small and in-process: enough for one broker; several
 * brokers behind a balancer each enforce their share (docs/join-codes.md states the effect).
 */
export class WindowCounter {
  private readonly counts = new Map<string, { start: number; n: number }>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {}

  /** Current count within the window, without adding. */
  peek(key: string, now: number): number {
    const c = this.counts.get(key);
    return c && now - c.start < this.windowMs ? c.n : 0;
  }

  exceeded(key: string, now: number): boolean {
    return this.peek(key, now) >= this.limit;
  }

  add(key: string, now: number): number {
    let c = this.counts.get(key);
    if (!c || now - c.start >= this.windowMs) {
      c = { start: now, n: 0 };
      this.counts.set(key, c);
      if (this.counts.size > 100_000) this.sweep(now);
    }
    c.n++;
    return c.n;
  }

  retryAfterMs(key: string, now: number): number {
    const c = this.counts.get(key);
    return c ? Math.max(0, c.start + this.windowMs - now) : 0;
  }

  private sweep(now: number): void {
    for (const [k, c] of this.counts) if (now - c.start >= this.windowMs) this.counts.delete(k);
  }
}

/** Token bucket for per-socket frame rates: short bursts pass, sustained floods do not. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerS: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerS);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Groups IPv6 sources by /64 so one host cannot rotate through its own addresses. */
export function sourceKey(ip: string): string {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (!v4.includes(':')) return v4;
  const parts = v4.split(':');
  return `${parts.slice(0, 4).join(':')}::/64`;
}
