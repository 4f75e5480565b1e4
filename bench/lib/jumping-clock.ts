import type { Clock } from '../../broker/clock.js';
import { DeviceKey } from '../../kit/device.js';

/**
 * Real time plus a jump forward, for a benchmark that has to cover a code's whole life without
 * waiting for it. Deadlines that fall inside a jump run at once, oldest first; device proofs are
 * dated on the same clock.
 */
export class JumpingClock implements Clock {
  private offset = 0;
  private timers: { when: number; fn: () => void; live: boolean; real: NodeJS.Timeout }[] = [];

  now(): number {
    return Date.now() + this.offset;
  }

  at(when: number, fn: () => void): () => void {
    const timer = { when, fn, live: true, real: setTimeout(() => this.runDue(), Math.max(0, Math.min(when - this.now(), 2 ** 31 - 1))) };
    timer.real.unref();
    this.timers.push(timer);
    return () => {
      timer.live = false;
      clearTimeout(timer.real);
    };
  }

  async jump(ms: number): Promise<void> {
    this.offset += ms;
    DeviceKey.clockSkewS = this.offset / 1000;
    this.runDue();
    await new Promise((r) => setTimeout(r, 50));
  }

  dispose(): void {
    for (const t of this.timers) clearTimeout(t.real);
    DeviceKey.clockSkewS = 0;
  }

  private runDue(): void {
    const now = this.now();
    const due = this.timers.filter((x) => x.live && x.when <= now).sort((a, b) => a.when - b.when);
    this.timers = this.timers.filter((x) => x.live && x.when > now);
    for (const d of due) {
      clearTimeout(d.real);
      d.fn();
    }
  }
}
