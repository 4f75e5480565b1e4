import { describe, expect, it } from 'vitest';
import { END_REASONS, SESSION_STATES, checkTransition, endReasonsFrom } from '../../common/session-state.js';

describe('session state machine', () => {
  it('walks the happy path in order and nothing skips a step', () => {
    const path = ['requested', 'awaiting_approval', 'approved', 'code_issued', 'pending_consent', 'active'] as const;
    for (let i = 0; i + 1 < path.length; i++) expect(checkTransition(path[i]!, { to: path[i + 1]! }).ok).toBe(true);
    expect(checkTransition('requested', { to: 'approved' }).ok).toBe(true);
    expect(checkTransition('approved', { to: 'active' })).toEqual({ ok: false, why: 'illegal transition approved -> active' });
    expect(checkTransition('code_issued', { to: 'approved' }).ok).toBe(false);
    expect(checkTransition('active', { to: 'pending_consent' }).ok).toBe(false);
  });

  it('an ended session never moves again', () => {
    for (const s of SESSION_STATES) expect(checkTransition('ended', s === 'ended' ? { to: 'ended', reason: 'completed' } : { to: s }).ok).toBe(false);
  });

  it('each end reason belongs to the states where it can happen', () => {
    expect(checkTransition('active', { to: 'ended', reason: 'declined' }).ok).toBe(false);
    expect(checkTransition('pending_consent', { to: 'ended', reason: 'declined' }).ok).toBe(true);
    expect(checkTransition('awaiting_approval', { to: 'ended', reason: 'rejected' }).ok).toBe(true);
    expect(checkTransition('active', { to: 'ended', reason: 'rejected' }).ok).toBe(false);
    expect(checkTransition('code_issued', { to: 'ended', reason: 'code_expired' }).ok).toBe(true);
    expect(checkTransition('active', { to: 'ended', reason: 'peer_lost' }).ok).toBe(true);
    const used = new Set(SESSION_STATES.filter((s) => s !== 'ended').flatMap((s) => endReasonsFrom(s as Exclude<typeof s, 'ended'>)));
    expect([...used].sort()).toEqual([...END_REASONS].sort());
  });
});
