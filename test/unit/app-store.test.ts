import { beforeEach, describe, expect, it } from 'vitest';
import { brokerNow, resetStore, useAppStore } from '../../renderer/app/store.js';

describe('the app store: one bound store of typed slices', () => {
  beforeEach(() => resetStore());

  it('starts empty and resets to that state', () => {
    const s = useAppStore.getState();
    expect(s.route).toBe('join');
    expect(s.join.phase).toBe('enter');
    expect(s.live).toMatchObject({ role: null, state: 'idle', granted: [], ended: null });
    s.setJoin({ phase: 'consent', code: 'X' });
    s.setLive({ role: 'end_user', state: 'connected', sas: '123 456' });
    s.setStaff({ account: { id: 'a', username: 'u', display_name: 'U', organisation: 'O', kind: 'internal', roles: ['analyst'], mfa_at: 0, sso_issuer: null } });
    resetStore({ account: true });
    const r = useAppStore.getState();
    expect(r.join.phase).toBe('enter');
    expect(r.live.sas).toBeNull();
    expect(r.staff.account?.username).toBe('u');
    resetStore();
    expect(useAppStore.getState().staff.account).toBeNull();
  });

  it('a new session starts from a clean live state: nothing of the last one (a lock, a pause, a code, a prompt) leaks into it', () => {
    const s = useAppStore.getState();
    // How the previous session ended: the peer closed first, so control was locked; sharing paused.
    s.setLive({ role: 'analyst', sessionId: 'old', state: 'ended', controlLocked: true, sharingPaused: true, sas: '111 222', pendingRequest: 'control', controlRequest: { requestId: 'r', capability: 'control', receivedAt: 1 }, notice: 'old news', revokedDuring: [{ kind: 'control', by: 'end_user' }] });
    s.beginLive({ role: 'analyst', sessionId: 'new', state: 'connecting', expiresAt: 5, ticket: 'INC-2', capabilities: ['view', 'control'] });
    const live = useAppStore.getState().live;
    expect(live).toMatchObject({ role: 'analyst', sessionId: 'new', ticket: 'INC-2', controlLocked: false, sharingPaused: false, sas: null, pendingRequest: null, controlRequest: null, notice: null, revokedDuring: [], granted: [], ended: null });
  });

  it('grants: what is in force now, and what ended during the session and by whom', () => {
    const s = useAppStore.getState();
    s.setGrant('control', true, 'end_user');
    expect(useAppStore.getState().live.granted).toEqual(['control']);
    s.setGrant('control', false, 'end_user');
    // The broker's echo of the same revocation is not counted twice.
    s.setGrant('control', false, 'end_user');
    expect(useAppStore.getState().live).toMatchObject({ granted: [], revokedDuring: [{ kind: 'control', by: 'end_user' }] });
  });

  it('the broker decides time: its clock ahead of ours shortens the countdown, behind never lengthens it', () => {
    const s = useAppStore.getState();
    const local = Date.now();
    s.learnBrokerTime(local + 600_000, local);
    expect(useAppStore.getState().clockOffsetMs).toBe(600_000);
    expect(brokerNow() - Date.now()).toBeGreaterThanOrEqual(599_000);
    s.learnBrokerTime(local - 600_000, local);
    expect(useAppStore.getState().clockOffsetMs).toBe(600_000);
    // Jitter under a second does not move it.
    s.learnBrokerTime(local + 600_500, local);
    expect(useAppStore.getState().clockOffsetMs).toBe(600_000);
  });

  it('chat keeps the last 200 lines', () => {
    const s = useAppStore.getState();
    for (let i = 0; i < 250; i++) s.addChat({ from: 'them', text: String(i), at: i });
    const chat = useAppStore.getState().live.chat;
    expect(chat).toHaveLength(200);
    expect(chat[0]!.text).toBe('50');
  });
});
