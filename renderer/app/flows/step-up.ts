import { SteppedUpSchema } from '../../../common/protocol/step-up.js';
import { BrokerError } from '../broker-client.js';
import { staffBroker } from '../services.js';
import { useAppStore } from '../store.js';
import { askAgainAfterStepUp } from './session.js';

/**
 * The analyst confirms with a fresh authenticator code when the broker refused control for a
 * stale second factor; the request is then sent again (the end user is asked only then).
 */
export async function stepUpAndRetry(code: string): Promise<string | null> {
  try {
    const r = await staffBroker().post('/api/v1/auth/step-up', { totp: code }, SteppedUpSchema);
    const s = useAppStore.getState();
    if (s.staff.account) s.setStaff({ account: { ...s.staff.account, mfa_at: r.mfa_at } });
    s.setLive({ stepUp: null });
    askAgainAfterStepUp();
    return null;
  } catch (err) {
    const m = err instanceof BrokerError ? err.message : (err as Error).message;
    return m.charAt(0).toUpperCase() + m.slice(1);
  }
}

export function dismissStepUp(): void {
  const s = useAppStore.getState();
  const what = s.live.stepUp?.capability === 'files' ? 'Sending files' : 'Control';
  const how = s.staff.account?.sso_issuer ? 'a fresh sign-in at your identity provider' : 'a fresh authenticator code';
  s.setLive({ stepUp: null, notice: `${what} was not requested: it needs ${how} first.` });
}
