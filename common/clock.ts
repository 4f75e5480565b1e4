/**
 * Time is a port: the broker and the client decide every deadline from `now()` and schedule
 * through `at()`, so tests can move time forward instead of sleeping through a session's length.
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
    let t: ReturnType<typeof setTimeout>;
    const arm = () => {
      const delay = when - Date.now();
      t = setTimeout(delay > MAX ? arm : fn, Math.max(0, Math.min(delay, MAX)));
      // A pending deadline must not keep a Node process alive on its own.
      (t as { unref?: () => void }).unref?.();
    };
    arm();
    return () => clearTimeout(t);
  },
};
