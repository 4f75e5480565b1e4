import type { OrgPolicy } from '../../../common/policy.js';

/**
 * Each policy setting as the admin reads it in the console. A Record over the policy's own keys:
 * a setting added to common/policy.ts does not compile until it has its words here, so the
 * "saved" notice and the refusals never show a raw key.
 */
export const POLICY_FIELD_WORDS: Record<keyof OrgPolicy, string> = {
  organisation: 'organisation name',
  max_duration_minutes: 'longest session asked for',
  hard_max_minutes: 'longest session with extensions',
  approval_window_minutes: 'time an approver has',
  code_ttl_minutes: 'how long a join code works',
  offer_ttl_seconds: 'time the end user has to accept',
  require_open_ticket: 'open ticket required',
  auto_approve: 'what is approved without an approver',
  mfa_required_roles: 'who needs an authenticator app',
  passkey_required_roles: 'who must step up with a passkey',
  heartbeat_timeout_seconds: 'how long a silent end user stays connected',
  control_prompt_seconds: 'time the end user has to answer a request',
  step_up_minutes: 'how fresh the second factor must be',
  recordings: 'recording',
  denied_capabilities: 'what is switched off for everyone',
  watchers_allowed: 'whether supervisors may watch',
  require_watcher: 'which sessions need a watcher',
  clipboard_images: 'whether pictures may be copied through the clipboard',
};

/** The nested settings a refusal may name (recordings.*). */
const NESTED_WORDS: Record<string, string> = {
  stall_suspend_seconds: 'control pauses when the recording stalls for',
  stall_end_seconds: 'the session ends when the recording stalls for',
  retention_days: 'recordings are kept for',
  quota_mb: 'storage for recordings',
  with_control: 'recording of sessions with control',
  view_only: 'recording of sessions without control',
  count: 'how many watchers are needed',
  roles: 'who counts as a watcher',
  on_leave: 'what happens when too few watchers are left',
  grace_s: 'how long a session waits for a watcher to return',
  analyst_kinds: 'which analysts need a watcher',
  ticket_prefixes: 'which tickets need a watcher',
};

function wordsFor(key: string): string | null {
  return (POLICY_FIELD_WORDS as Record<string, string>)[key] ?? NESTED_WORDS[key] ?? null;
}

/** "Saved … Changed: how fresh the second factor must be and what is switched off for everyone." */
export function changedInWords(keys: readonly string[]): string {
  const names = keys.map((k) => wordsFor(k) ?? 'another setting');
  const unique = [...new Set(names)];
  if (unique.length <= 1) return unique[0] ?? '';
  return `${unique.slice(0, -1).join(', ')} and ${unique[unique.length - 1]}`;
}

/** A refusal from the broker, with the settings it names in the admin's words ("…" quoted). */
export function policyProblemInWords(message: string): string {
  return message.replace(/\b(?:recordings\.)?([a-z]+(?:_[a-z]+)+)\b/g, (whole, key: string) => {
    const w = wordsFor(key);
    return w ? `"${w}"` : whole;
  });
}
