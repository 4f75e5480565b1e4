import type { Capability } from '../../common/capabilities.js';
import type { AnalystKind, Role } from '../../common/roles.js';
import type { EndReason, SessionState } from '../../common/session-state.js';

export interface Account {
  id: string;
  username: string;
  display_name: string;
  organisation: string;
  kind: AnalystKind;
  roles: Role[];
  mfa_at: number;
}

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

export interface GrantView {
  capability: Capability;
  state: 'requested' | 'granted' | 'denied' | 'revoked';
  requested_at: number;
  decided_at: number | null;
  revoked_at: number | null;
}

export interface SessionView {
  id: string;
  state: SessionState;
  end_reason: EndReason | null;
  ticket: string;
  reason: string;
  capabilities: Capability[];
  duration_minutes: number;
  analyst: { id: string; username: string; display_name: string; organisation: string; kind: AnalystKind };
  approval: { required: boolean; why: string; approver: string | null; approved_at: number | null; deadline: number | null; rejection_reason: string | null };
  code_expires_at: number | null;
  offer_expires_at: number | null;
  activated_at: number | null;
  expires_at: number | null;
  hard_deadline: number | null;
  created_at: number;
  ended_at: number | null;
  grants: GrantView[];
}
