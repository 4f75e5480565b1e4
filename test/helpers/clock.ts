import type { Clock } from '../../broker/clock.js';
import { DeviceKey } from '../../kit/device.js';

/**
 * Real time plus an offset the test can jump forward. Deadlines fire when real time reaches them
 * or when `advance` jumps past them, so a test need not sleep through a session's length.
 */
export class TestClock implements Clock {
  private offset = 0;
  private timers: { when: number; fn: () => void; live: boolean; real: NodeJS.Timeout }[] = [];

  now(): number {
    return Date.now() + this.offset;
  }

  at(when: number, fn: () => void): () => void {
    const real = setTimeout(() => this.fire(), Math.max(0, Math.min(when - this.now(), 2 ** 31 - 1)));
    real.unref();
    const timer = { when, fn, live: true, real };
    this.timers.push(timer);
    return () => {
      timer.live = false;
      clearTimeout(real);
    };
  }

  /** Jumps time forward and runs every deadline passed, oldest first; lets their work settle. */
  async advance(ms: number): Promise<void> {
    this.offset += ms;
    DeviceKey.clockSkewS = this.offset / 1000;
    this.fire();
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));
  }

  private fire(): void {
    const now = this.now();
    const due = this.timers.filter((x) => x.live && x.when <= now).sort((a, b) => a.when - b.when);
    this.timers = this.timers.filter((x) => x.live && x.when > now);
    for (const d of due) {
      clearTimeout(d.real);
      d.fn();
    }
  }

  /** Resets the proof skew when the test is done with this clock. */
  dispose(): void {
    for (const t of this.timers) clearTimeout(t.real);
    DeviceKey.clockSkewS = 0;
  }
}
