import type { Clock } from '../../broker/clock.js';
import { DeviceKey } from './device.js';

/**
 * A clock the test moves by hand. Deadlines fire when `advance` passes them, the way they would
 * fire in real time, without waiting through a session's length.
 */
export class TestClock implements Clock {
  private t = Date.now();
  private timers: { when: number; fn: () => void; live: boolean }[] = [];

  now(): number {
    return this.t;
  }

  at(when: number, fn: () => void): () => void {
    const timer = { when, fn, live: true };
    this.timers.push(timer);
    if (when <= this.t) queueMicrotask(() => this.fire());
    return () => {
      timer.live = false;
    };
  }

  /** Moves time forward and runs every deadline passed, oldest first; waits for their work. */
  async advance(ms: number): Promise<void> {
    this.t += ms;
    DeviceKey.clockSkewS = (this.t - Date.now()) / 1000;
    this.fire();
    // Let the fired handlers reach the database and the sockets.
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 50));
  }

  private fire(): void {
    const due = this.timers.filter((x) => x.live && x.when <= this.t).sort((a, b) => a.when - b.when);
    this.timers = this.timers.filter((x) => x.live && x.when > this.t);
    for (const d of due) d.fn();
  }

  /** Resets the proof skew when the test is done with this clock. */
  dispose(): void {
    DeviceKey.clockSkewS = 0;
  }
}
