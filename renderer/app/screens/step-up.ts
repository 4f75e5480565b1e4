import { useState, type ReactNode } from 'react';
import { stepUpWithPasskeyAndRetry } from '../flows/passkeys.js';
import { dismissStepUp, stepUpAndRetry } from '../flows/step-up.js';
import { providerName, stepUpWithSsoAndRetry } from '../flows/sso.js';
import { ageText } from '../../../common/step-up.js';
import { brokerNow, useAppStore } from '../store.js';
import { Alert, Field, h } from './ui.js';

const ASK: Record<string, string> = { control: 'to ask for control', files: 'to ask to send files', clipboard: 'to ask for the clipboard' };

/**
 * For an account that signs in with single sign-on there is no local code: the person signs in
 * again at the provider, and the prompt says why in those terms.
 */
function SsoStepUp(props: { issuer: string; mfaAt: number; capability: string }): ReactNode {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const provider = providerName(props.issuer);
  const last = props.mfaAt > 0 ? `your last sign-in was ${ageText(props.mfaAt, brokerNow())}` : 'there was no sign-in there yet';
  const ask = ASK[props.capability] ?? 'to go on';
  return h(
    'section',
    { className: 'card narrow step-up', 'aria-labelledby': 'stepup-title', 'data-testid': 'step-up' },
    h('h2', { id: 'stepup-title' }, props.capability === 'files' ? 'Confirm it is you before you send files' : 'Confirm it is you before you take control'),
    h('p', { 'data-testid': 'step-up-why' }, `Sign in again with ${provider} ${ask}: ${last}.`),
    h('p', { className: 'small' }, 'A new tab opens at your identity provider; this session stays open here. The end user is told how recently you confirmed, and is asked only after this.'),
    error ? h(Alert, { kind: 'error', testId: 'step-up-error' }, error) : null,
    h(
      'div',
      { className: 'choice' },
      h(
        'button',
        {
          type: 'button',
          className: 'primary',
          disabled: busy,
          onClick: async () => {
            setBusy(true);
            setError(null);
            setError(await stepUpWithSsoAndRetry());
            setBusy(false);
          },
        },
        busy ? `Waiting for ${provider}…` : `Sign in again with ${provider}`,
      ),
      h('button', { type: 'button', onClick: dismissStepUp }, 'Not now'),
    ),
  );
}

/** Before control: the broker wants a second factor from the last few minutes, not the morning's sign-in. */
export function StepUpPrompt(props: { message: string; capability: string }): ReactNode {
  const account = useAppStore((s) => s.staff.account);
  if (account?.sso_issuer) return h(SsoStepUp, { issuer: account.sso_issuer, mfaAt: account.mfa_at, capability: props.capability });
  return h(LocalStepUp, props);
}

function LocalStepUp(props: { message: string }): ReactNode {
  const [code, setCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const valid = /^\d{6}$/.test(code.trim());
  return h(
    'section',
    { className: 'card narrow step-up', 'aria-labelledby': 'stepup-title', 'data-testid': 'step-up' },
    h('h2', { id: 'stepup-title' }, 'Confirm it is you before you take control'),
    h('p', { 'data-testid': 'step-up-why' }, `${props.message.charAt(0).toUpperCase()}${props.message.slice(1)}.`),
    h('p', { className: 'small' }, 'The end user is told how recently you confirmed. They are asked only after this.'),
    h(
      'form',
      {
        onSubmit: async (e: { preventDefault(): void }) => {
          e.preventDefault();
          if (!valid || busy) return;
          setBusy(true);
          setError(await stepUpAndRetry(code.trim()));
          setBusy(false);
        },
      },
      h(
        Field,
        { id: 'stepup-code', label: 'Authenticator code', hint: 'The 6 digits your authenticator app shows now' },
        h('input', { id: 'stepup-code', inputMode: 'numeric', autoComplete: 'one-time-code', pattern: '[0-9]{6}', maxLength: 6, 'aria-describedby': 'stepup-code-hint', value: code, onChange: (e: { target: { value: string } }) => setCode(e.target.value) }),
      ),
      error ? h(Alert, { kind: 'error', testId: 'step-up-error' }, error) : null,
      h(
        'div',
        { className: 'choice' },
        h('button', { type: 'submit', className: 'primary', disabled: busy || !valid }, busy ? 'Checking…' : 'Confirm and ask for control'),
        h(
          'button',
          {
            type: 'button',
            disabled: busy,
            onClick: async () => {
              setBusy(true);
              setError(await stepUpWithPasskeyAndRetry());
              setBusy(false);
            },
          },
          'Use a passkey instead',
        ),
        h('button', { type: 'button', onClick: dismissStepUp }, 'Not now'),
      ),
    ),
  );
}
