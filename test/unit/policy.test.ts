import { describe, expect, it } from 'vitest';
import { DEFAULT_POLICY, OrgPolicySchema, approvalNeeded } from '../../common/policy.js';

describe('org policy', () => {
  it('defaults: view and chat by an internal analyst need no approver; anything else does', () => {
    expect(approvalNeeded(DEFAULT_POLICY, 'internal', ['view', 'chat']).needed).toBe(false);
    expect(approvalNeeded(DEFAULT_POLICY, 'internal', ['view', 'control'])).toEqual({ needed: true, why: 'Control of the mouse and keyboard needs an approver.' });
    expect(approvalNeeded(DEFAULT_POLICY, 'vendor', ['view']).needed).toBe(true);
    expect(approvalNeeded(DEFAULT_POLICY, 'incident_responder', ['view']).needed).toBe(true);
  });

  it('TOTP is required by default for every role that can reach a screen or approve', () => {
    expect(DEFAULT_POLICY.mfa_required_roles).toEqual(expect.arrayContaining(['analyst', 'approver']));
  });

  it('rejects unknown fields and inconsistent limits', () => {
    expect(OrgPolicySchema.safeParse({ auto_approve_everything: true }).success).toBe(false);
    expect(OrgPolicySchema.safeParse({ max_duration_minutes: 300, hard_max_minutes: 240 }).success).toBe(false);
  });
});
