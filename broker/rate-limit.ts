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

/**
 * The audit throttle key (AuditLog.refused) for refusals of callers without an identity of their
 * own, anonymous requests and fresh device keys alike: one per kind of refusal and source.
 */
export function sourceRefusalKey(type: string, source: string | null | undefined, detail = ''): string {
  return `${type}|source:${sourceKey(source ?? 'unknown')}|${detail}`;
}

/** Groups IPv6 sources by /64 so one host cannot rotate through its own addresses. */
export function sourceKey(ip: string): string {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  if (!v4.includes(':')) return v4;
  const parts = v4.split(':');
  return `${parts.slice(0, 4).join(':')}::/64`;
}
