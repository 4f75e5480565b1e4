/**
 * What a new staff password must be, as one list: the set-a-password screen shows these sentences
 * before anyone types (rules shown, not discovered) and the broker checks the same list.
 */
export const PASSWORD_MIN_CHARS = 12;
export const PASSWORD_MAX_CHARS = 256;

export const PASSWORD_RULES = [
  { id: 'length', text: `At least ${PASSWORD_MIN_CHARS} characters (a few words in a row make a good one)` },
  { id: 'not_username', text: 'Not your username' },
  { id: 'not_one_time', text: 'Not the one-time password you were given' },
  { id: 'not_repeated', text: 'Not one character repeated' },
] as const;
export type PasswordRule = (typeof PASSWORD_RULES)[number]['id'];

/** The rules a candidate breaks; `oneTime` is left out where only a hash of it is known (the broker checks that one itself). */
export function passwordProblems(candidate: string, ctx: { username: string; oneTime?: string }): PasswordRule[] {
  const out: PasswordRule[] = [];
  if ([...candidate].length < PASSWORD_MIN_CHARS || candidate.length > PASSWORD_MAX_CHARS) out.push('length');
  if (candidate.trim().toLowerCase() === ctx.username.trim().toLowerCase()) out.push('not_username');
  if (ctx.oneTime !== undefined && candidate === ctx.oneTime) out.push('not_one_time');
  if (candidate.length > 0 && new Set(candidate).size === 1) out.push('not_repeated');
  return out;
}

export function ruleText(id: PasswordRule): string {
  return PASSWORD_RULES.find((r) => r.id === id)!.text;
}
