import type { GrantView, SessionTokenResult, SessionView } from '../../common/protocol/responses.js';
import type { Account } from '../auth/account.js';

/** What the session service answers: the shapes of common/protocol/responses.ts. */
export type { GrantView, SessionView };
export type IssuedSessionToken = SessionTokenResult;

/** Who did something, as the audit records it. */
export interface Actor {
  actor: string;
  source: string | null;
}

export const SYSTEM: Actor = { actor: 'system', source: null };

export function accountActor(a: Pick<Account, 'username'>, source: string | null): Actor {
  return { actor: `account:${a.username}`, source };
}

export function endUserActor(jkt: string, source: string | null): Actor {
  return { actor: `end_user:${jkt.slice(0, 16)}`, source };
}
