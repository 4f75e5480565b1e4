import { describe, expect, it } from 'vitest';

/** CI=true (as CI sets it), not CI=false or CI=0. */
export const inCi = ['', '0', 'false'].indexOf((process.env.CI ?? '').toLowerCase()) === -1;

/**
 * For a suite that needs tools CI installs (.ci/run: Xvfb, xdotool, Chromium, coturn...): whether
 * to skip it, for `describe.skipIf(...)`. Nothing missing: run. Missing outside CI: skip, with
 * the reason printed. Missing in CI: a failing test named after the suite says what is missing
 * (a skip there would show a broken install as a green run) and the suite itself is skipped, so
 * the failure is this reason rather than a timeout somewhere in its set-up.
 */
export function skipWithout(suite: string, missing: readonly string[]): boolean {
  if (missing.length === 0) return false;
  if (inCi) {
    describe(suite, () => {
      it('has the tools CI installs', () => {
        expect.fail(`missing on CI (CI=${process.env.CI}): ${missing.join(', ')}`);
      });
    });
  } else {
    console.warn(`[${suite}] skipping: missing ${missing.join(', ')}`);
  }
  return true;
}
