import { useState, type ReactNode } from 'react';
import { stepUpWithPasskeyAndRetry } from '../flows/passkeys.js';
import { dismissStepUp, stepUpAndRetry } from '../flows/step-up.js';
import { Alert, Field, h } from './ui.js';

/** Before control: the broker wants a second factor from the last few minutes, not the morning's sign-in. */
export function StepUpPrompt(props: { message: string }): ReactNode {
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
