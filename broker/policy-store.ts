import { isDeepStrictEqual } from 'node:util';
import { OrgPolicySchema, type OrgPolicy } from '../common/policy.js';
import type { AuditLog } from './audit/log.js';
import type { BrokerConfig } from './config.js';
import { badRequest, conflict } from './domain-errors.js';
import type { Storage } from './storage/db.js';

const ROW = 'policy';
/** How often a broker looks whether another one on the database changed the policy. */
export const POLICY_REFRESH_MS = 2000;

export interface PolicyChange {
  policy: OrgPolicy;
  version: number;
  changed: string[];
}

/**
 * The organisation's policy as the console edits it: checked by the same schema as broker.json
 * (common/policy.ts), stored in the database, and put in place in `cfg.policy` itself, which every
 * part of the broker reads when it decides (a request, an approval, a grant). Sessions keep what
 * they were approved with; new requests follow the new policy. Until an admin saves one,
 * broker.json's policy is the one in force.
 */
export class PolicyStore {
  private version = 0;
  constructor(
    private readonly cfg: BrokerConfig,
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly now: () => number,
  ) {}

  /** Reads the stored policy (at start, and every POLICY_REFRESH_MS for changes by other brokers). */
  async refresh(): Promise<void> {
    const row = await this.storage.db.selectFrom('policy_settings').selectAll().where('id', '=', ROW).executeTakeFirst();
    if (!row || row.version === this.version) return;
    const parsed = OrgPolicySchema.safeParse(JSON.parse(row.policy));
    // A row a newer broker wrote with fields this one does not know: keep what runs.
    if (!parsed.success) return;
    this.put(parsed.data);
    this.version = row.version;
  }

  get current(): { policy: OrgPolicy; version: number } {
    return { policy: this.cfg.policy, version: this.version };
  }

  /** `expectedVersion` is the one the admin's screen showed: two admins saving at once do not undo each other unseen. */
  async update(input: unknown, expectedVersion: number, actor: string): Promise<PolicyChange> {
    const parsed = OrgPolicySchema.safeParse(input);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw badRequest(`policy${i?.path.length ? `.${i.path.join('.')}` : ''}: ${i?.message ?? 'invalid'}`, 'invalid_policy');
    }
    await this.refresh();
    if (expectedVersion !== this.version) throw conflict('someone changed the policy since you opened it: reload to see their change', 'policy_changed_meanwhile');
    const before = this.cfg.policy;
    const next = parsed.data;
    const keys = Object.keys(next) as (keyof OrgPolicy)[];
    const changed = keys.filter((k) => !isDeepStrictEqual(before[k], next[k]));
    if (changed.length === 0) return { policy: before, version: this.version, changed };
    const version = this.version + 1;
    const t = this.now();
    const row = { id: ROW, policy: JSON.stringify(next), version, changed_by: actor, changed_at: t };
    // Conditional on the version read, so of two saves at once one wins and the other is told.
    const upd = await this.storage.db.updateTable('policy_settings').set(row).where('id', '=', ROW).where('version', '=', this.version).executeTakeFirst();
    if (Number(upd.numUpdatedRows) !== 1) {
      const inserted = this.version === 0 ? await this.storage.db.insertInto('policy_settings').values(row).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst() : null;
      if (!inserted || Number(inserted.numInsertedOrUpdatedRows ?? 0) !== 1) throw conflict('someone changed the policy since you opened it: reload to see their change', 'policy_changed_meanwhile');
    }
    const diff = changed.map((k) => `${k}: ${short(before[k])} -> ${short(next[k])}`);
    await this.audit.append({ type: 'policy.changed', outcome: 'success', actor, meta: { version, changed, diff } });
    this.put(next);
    this.version = version;
    return { policy: next, version, changed };
  }

  private put(p: OrgPolicy): void {
    const target = this.cfg.policy as Record<string, unknown>;
    for (const k of Object.keys(target)) delete target[k];
    Object.assign(target, p);
  }
}

/** A value in the audit's diff summary (`field: before -> after`): JSON, cut at 200 characters. */
function short(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 199)}…` : s;
}
