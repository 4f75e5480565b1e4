import { useMemo, useState, type ReactNode } from 'react';
import QRCode from 'qrcode';
import { passwordProblems, type PasswordRule } from '../../../common/password-rules.js';
import { backToPassword, cancelFirstSignIn, choosePassword, finishFirstSignIn } from '../flows/first-sign-in.js';
import type { FirstSignInState } from '../store.js';
import { Alert, Field, ScreenHeading, h } from './ui.js';

/** The newcomer's two steps after the one-time password: their own password, then the authenticator app. */
export function FirstSignInScreens(props: { f: FirstSignInState }): ReactNode {
  return props.f.step === 'password' ? h(SetPasswordScreen, { f: props.f }) : h(TotpScreen, { f: props.f });
}

function stepText(f: FirstSignInState, n: 1 | 2): string {
  return f.totpRequired ? `Step ${n} of 2` : 'One step';
}

function SetPasswordScreen(props: { f: FirstSignInState }): ReactNode {
  const { f } = props;
  const [pw, setPw] = useState(f.newPassword);
  const [again, setAgain] = useState(f.newPassword);
  const [tried, setTried] = useState(false);
  const broken = new Set<string>(passwordProblems(pw, { username: f.username, oneTime: f.oneTimePassword }));
  const mismatch = again !== pw;
  const ok = broken.size === 0 && !mismatch;
  return h(
    'section',
    { className: 'card narrow', 'aria-labelledby': 'setpw-title' },
    h('p', { className: 'small' }, `${stepText(f, 1)}: first sign-in for ${f.displayName}`),
    h(ScreenHeading, { id: 'setpw-title' }, 'Choose your password'),
    h('p', null, 'The password you were given works only once. Choose your own now; nobody else will know it.'),
    h(
      'form',
      {
        noValidate: true,
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          setTried(true);
          if (ok) choosePassword(pw);
        },
      },
      h('p', { id: 'pw-rules-title', className: 'rules-title' }, 'Your password must be:'),
      h(
        'ul',
        { className: 'rules', 'aria-labelledby': 'pw-rules-title', 'data-testid': 'password-rules' },
        ...f.rules.map((r) => {
          const met = pw.length > 0 && !broken.has(r.id as PasswordRule);
          return h('li', { key: r.id, className: met ? 'rule rule-met' : 'rule', 'data-met': met }, h('span', { 'aria-hidden': true, className: 'rule-mark' }, met ? '✓' : '•'), ` ${r.text}`, h('span', { className: 'visually-hidden' }, met ? ' (met)' : ' (not met yet)'));
        }),
      ),
      h(Field, { id: 'new-password', label: 'New password' }, h('input', { id: 'new-password', type: 'password', autoComplete: 'new-password', value: pw, 'aria-describedby': 'pw-rules-title', maxLength: 256, onChange: (e: { target: { value: string } }) => setPw(e.target.value) })),
      h(Field, { id: 'new-password-again', label: 'The same password again' }, h('input', { id: 'new-password-again', type: 'password', autoComplete: 'new-password', value: again, maxLength: 256, onChange: (e: { target: { value: string } }) => setAgain(e.target.value) })),
      tried && !ok ? h(Alert, { kind: 'error', testId: 'setpw-problem' }, broken.size > 0 ? 'The password does not meet every rule above yet.' : 'The two passwords are not the same.') : null,
      f.error ? h(Alert, { kind: 'error', testId: 'first-sign-in-error' }, f.error) : null,
      h(
        'div',
        { className: 'choice' },
        h('button', { type: 'submit', className: 'primary', disabled: f.busy }, f.totpRequired ? 'Continue' : 'Set password and sign in'),
        h('button', { type: 'button', onClick: () => cancelFirstSignIn() }, 'Cancel'),
      ),
    ),
  );
}

/** The otpauth:// URI as an SVG QR code drawn here: the secret never goes to a QR service. */
function QrCode(props: { uri: string; label: string }): ReactNode {
  const path = useMemo(() => {
    const q = QRCode.create(props.uri, { errorCorrectionLevel: 'M' });
    const n = q.modules.size;
    let d = '';
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) if (q.modules.get(y, x)) d += `M${x + 4} ${y + 4}h1v1h-1z`;
    return { d, size: n + 8 };
  }, [props.uri]);
  return h(
    'svg',
    { className: 'qr', viewBox: `0 0 ${path.size} ${path.size}`, role: 'img', 'aria-label': props.label, 'data-testid': 'totp-qr', shapeRendering: 'crispEdges' },
    h('rect', { width: path.size, height: path.size, fill: '#fff' }),
    h('path', { d: path.d, fill: '#000' }),
  );
}

/** The secret in groups of four, the way authenticator apps ask for it when typed. */
function grouped(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

function TotpScreen(props: { f: FirstSignInState }): ReactNode {
  const { f } = props;
  const [code, setCode] = useState('');
  const valid = /^\d{6}$/.test(code.trim());
  const e = f.enrolment;
  return h(
    'section',
    { className: 'card narrow', 'aria-labelledby': 'totp-title' },
    h('p', { className: 'small' }, `${stepText(f, 2)}: first sign-in for ${f.displayName}`),
    h(ScreenHeading, { id: 'totp-title' }, e ? 'Set up your authenticator app' : 'Confirm with your authenticator app'),
    e
      ? h(
          'div',
          null,
          h(
            'ol',
            { className: 'steps' },
            h('li', null, 'Open your authenticator app (for example Microsoft Authenticator, Google Authenticator, 1Password or FreeOTP) and add an account.'),
            h('li', null, 'Scan this QR code, or type the key below instead.'),
            h('li', null, 'Type the 6 digits the app then shows, to confirm it works.'),
          ),
          h(QrCode, { uri: e.uri, label: `QR code for the authenticator app: Chaperone, account ${f.username}` }),
          h('p', null, 'Key to type if you cannot scan: ', h('code', { className: 'secret', 'data-testid': 'totp-secret' }, grouped(e.secret))),
          h('p', { className: 'small' }, 'Time-based, 6 digits, every 30 seconds. Keep this key to yourself: anyone who has it can make your codes.'),
        )
      : h('p', null, 'Your authenticator app is already set up for this account. Type the code it shows now.'),
    h(
      'form',
      {
        onSubmit: (ev: { preventDefault(): void }) => {
          ev.preventDefault();
          if (valid) void finishFirstSignIn(code.trim());
        },
      },
      h(
        Field,
        { id: 'confirm-totp', label: 'Code from the app', hint: 'The 6 digits it shows now' },
        h('input', { id: 'confirm-totp', inputMode: 'numeric', autoComplete: 'one-time-code', pattern: '[0-9]{6}', maxLength: 6, 'aria-describedby': 'confirm-totp-hint', value: code, onChange: (ev: { target: { value: string } }) => setCode(ev.target.value) }),
      ),
      f.error ? h(Alert, { kind: 'error', testId: 'first-sign-in-error' }, f.error) : null,
      h(
        'div',
        { className: 'choice' },
        h('button', { type: 'submit', className: 'primary', disabled: f.busy || !valid }, f.busy ? 'Checking…' : 'Confirm and sign in'),
        h('button', { type: 'button', onClick: backToPassword, disabled: f.busy }, 'Back'),
      ),
    ),
  );
}
