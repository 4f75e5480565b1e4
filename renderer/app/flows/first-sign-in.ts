import { FirstSignInStartedSchema } from '../../../common/protocol/first-sign-in.js';
import { LoginResultSchema } from '../../../common/protocol/responses.js';
import { BrokerError } from '../broker-client.js';
import { keepRefreshToken, staffBroker } from '../services.js';
import { useAppStore, type FirstSignInState } from '../store.js';

/**
 * A newcomer's first sign-in: the one-time password opened a setup (broker/auth/first-sign-in.ts);
 * the newcomer chooses a password, then confirms the authenticator app with a code, and only the
 * last step talks to the broker again. Nothing is changed until both are right.
 */

/** The broker's sentences start in lower case (they are also read in logs); a screen starts with a capital. */
function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function set(patch: Partial<FirstSignInState>): void {
  const s = useAppStore.getState();
  const cur = s.staff.firstSignIn;
  if (cur) s.setStaff({ firstSignIn: { ...cur, ...patch } });
}

export async function beginFirstSignIn(username: string, oneTimePassword: string): Promise<void> {
  const s = useAppStore.getState();
  try {
    const r = await staffBroker().post('/api/v1/auth/first-sign-in', { username, password: oneTimePassword }, FirstSignInStartedSchema);
    s.setStaff({
      signingIn: false,
      error: null,
      firstSignIn: {
        username,
        oneTimePassword,
        setupToken: r.setup_token,
        displayName: r.display_name,
        totpRequired: r.totp_required,
        enrolment: r.totp_enrolment ? { secret: r.totp_enrolment.secret, uri: r.totp_enrolment.otpauth_uri } : null,
        rules: r.password_rules,
        step: 'password',
        newPassword: '',
        error: null,
        busy: false,
      },
    });
  } catch (err) {
    s.setStaff({ signingIn: false, error: sentence(err instanceof BrokerError ? err.message : (err as Error).message) });
  }
}

/** Step 1 done (the rules were checked on the screen; the broker checks them again at the end). */
export function choosePassword(newPassword: string): void {
  const cur = useAppStore.getState().staff.firstSignIn;
  if (!cur) return;
  if (!cur.totpRequired) {
    set({ newPassword });
    void finishFirstSignIn(undefined);
    return;
  }
  set({ newPassword, step: 'totp', error: null });
}

export function backToPassword(): void {
  set({ step: 'password', error: null });
}

export async function finishFirstSignIn(code: string | undefined): Promise<void> {
  const cur = useAppStore.getState().staff.firstSignIn;
  if (!cur) return;
  set({ busy: true, error: null });
  try {
    const r = await staffBroker().post('/api/v1/auth/first-sign-in/finish', { setup_token: cur.setupToken, new_password: cur.newPassword, ...(code ? { totp: code } : {}) }, LoginResultSchema);
    staffBroker().tokens = { access: r.access_token, refresh: r.refresh_token };
    await keepRefreshToken(r.refresh_token);
    useAppStore.getState().setStaff({ account: r.account, firstSignIn: null, error: null });
  } catch (err) {
    const e = err instanceof BrokerError ? err : null;
    if (e?.code === 'weak_password') set({ busy: false, step: 'password', error: sentence(e.message) });
    else if (e?.code === 'setup_expired' || e?.code === 'account_locked') cancelFirstSignIn(sentence(e.message));
    else set({ busy: false, error: sentence(e?.message ?? (err as Error).message) });
  }
}

/** Back to the sign-in form, with why when there is one. */
export function cancelFirstSignIn(why: string | null = null): void {
  useAppStore.getState().setStaff({ firstSignIn: null, error: why });
}
