import { startAuthentication, startRegistration, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { PasskeyListSchema, PasskeyOptionsSchema, PasskeyRemovedSchema, PasskeySchema, type Passkey } from '../../../common/protocol/passkeys.js';
import { SteppedUpSchema } from '../../../common/protocol/step-up.js';
import { staffBroker } from '../services.js';
import { useAppStore } from '../store.js';
import { problem } from './admin.js';
import { askAgainAfterStepUp } from './session.js';

/**
 * The signed-in person's passkeys. The browser (its WebAuthn, through @simplewebauthn/browser)
 * talks to the authenticator; the broker checks the answer against the challenge it stored.
 */
export type { Passkey };

export async function listPasskeys(): Promise<Passkey[]> {
  return (await staffBroker().get('/api/v1/me/passkeys', PasskeyListSchema)).passkeys;
}

export async function addPasskey(name: string): Promise<Passkey> {
  const b = staffBroker();
  const o = await b.post('/api/v1/me/passkeys/options', {}, PasskeyOptionsSchema);
  const credential = await startRegistration({ optionsJSON: o.options as unknown as PublicKeyCredentialCreationOptionsJSON });
  return b.post('/api/v1/me/passkeys', { challenge_id: o.challenge_id, name, credential }, PasskeySchema);
}

export async function removePasskey(id: string): Promise<void> {
  await staffBroker().post(`/api/v1/me/passkeys/${encodeURIComponent(id)}/remove`, {}, PasskeyRemovedSchema);
}

/** Step-up by passkey, then control is asked for again (as with a code). A sentence when it did not work. */
export async function stepUpWithPasskeyAndRetry(): Promise<string | null> {
  try {
    const b = staffBroker();
    const o = await b.post('/api/v1/auth/step-up/passkey/options', {}, PasskeyOptionsSchema);
    const credential = await startAuthentication({ optionsJSON: o.options as unknown as PublicKeyCredentialRequestOptionsJSON });
    const r = await b.post('/api/v1/auth/step-up/passkey', { challenge_id: o.challenge_id, credential }, SteppedUpSchema);
    const s = useAppStore.getState();
    if (s.staff.account) s.setStaff({ account: { ...s.staff.account, mfa_at: r.mfa_at } });
    s.setLive({ stepUp: null });
    askAgainAfterStepUp();
    return null;
  } catch (err) {
    return problem(err);
  }
}

/** Sign-in with a passkey in place of a code: the password opens a challenge, the passkey answers it. */
export async function passkeySignInAnswer(username: string, password: string): Promise<{ challenge_id: string; credential: unknown }> {
  const o = await staffBroker().post('/api/v1/auth/login/passkey-options', { username, password }, PasskeyOptionsSchema);
  const credential = await startAuthentication({ optionsJSON: o.options as unknown as PublicKeyCredentialRequestOptionsJSON });
  return { challenge_id: o.challenge_id, credential };
}
