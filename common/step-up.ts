import type { Capability } from './capabilities.js';

/**
 * Step-up: these capabilities need a fresh second factor at the moment they are asked for (at
 * most `policy.step_up_minutes` old), not the one from a sign-in hours ago. The broker refuses
 * the request otherwise (`step_up_required`); the end user's prompt says how fresh it is.
 */
export const STEP_UP_CAPABILITIES: readonly Capability[] = ['control', 'files'];

export function needsStepUp(c: string): boolean {
  return (STEP_UP_CAPABILITIES as readonly string[]).includes(c);
}

/** How long ago, in words a person reads at a glance ("just now", "4 minutes ago", "2 hours ago"). */
export function ageText(thenMs: number, nowMs: number): string {
  const min = Math.floor(Math.max(0, nowMs - thenMs) / 60_000);
  if (min < 1) return 'just now';
  if (min < 120) return `${min} minute${min === 1 ? '' : 's'} ago`;
  const hours = Math.floor(min / 60);
  if (hours < 48) return `${hours} hours ago`;
  return `${Math.floor(hours / 24)} days ago`;
}
