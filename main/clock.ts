/**
 * Time is a port here as in the broker: grant expiry is decided from `now()` and scheduled through
 * `at()`, so tests can move time instead of sleeping. (main/ cannot import the broker's copy.)
 */
export interface Clock {
  now(): number;
  /** Runs `fn` once `now()` reaches `when`; returns a cancel function. */
  at(when: number, fn: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  at(when, fn) {
    // setTimeout overflows past 2^31-1 ms (~24.8 days); re-arm for anything further out.
    const MAX = 2 ** 31 - 1;
    let t: NodeJS.Timeout;
    const arm = () => {
      const delay = when - Date.now();
      t = setTimeout(delay > MAX ? arm : fn, Math.max(0, Math.min(delay, MAX)));
      t.unref();
    };
    arm();
    return () => clearTimeout(t);
  },
};
