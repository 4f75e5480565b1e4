import { useEffect, useState, type ReactNode } from 'react';
import { CAPABILITIES, CONSENT_CAPABILITIES, isCapability, type Capability } from '../../../common/capabilities.js';
import { approve, cancelRequest, decideExtension, kill, newRequest, reissueCode, reject, requestSession, signIn, signOut, watchApprovals } from '../flows/staff.js';
import { ANALYST_END_TEXT, ANALYST_REQUEST_END_TEXT, endText } from '../end-reasons.js';
import { durationText } from '../format.js';
import type { PendingExtension, SessionView } from '../broker-client.js';
import { missingCase } from '../../../common/missing-case.js';
import { brokerNow, useAppStore } from '../store.js';
import { Alert, Countdown, Field, ScreenHeading, h, useNow } from './ui.js';
import { ANALYST_CAPABILITY_TEXT, APPROVER_CAPABILITY_TEXT, capabilityList, kindText } from '../wording.js';
import { MAX_KILL_REASON_CHARS } from '../../../common/protocol/api.js';
import { ConfirmDialog } from './confirm.js';
import { CopyButton } from './copy.js';
import { Viewer } from './viewer.js';
import { EndScreen } from './end-user.js';
import { FirstSignInScreens } from './first-sign-in.js';
import { AdminPanel } from './admin.js';
import { RecordingsPanel } from './recordings.js';
import { HistoryPanel } from './history.js';
import { PasskeysSection } from './passkeys.js';
import { providerName, signInWithSso } from '../flows/sso.js';
import { LivePanel } from './live-watch.js';

export function SignInScreen(): ReactNode {
  const staff = useAppStore((s) => s.staff);
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  return h(
    'section',
    { className: 'card narrow', 'aria-labelledby': 'signin-title' },
    h(ScreenHeading, { id: 'signin-title' }, 'Support staff sign in'),
    h(
      'form',
      {
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          void signIn(username.trim(), password, totp.trim());
        },
      },
      h(Field, { id: 'username', label: 'Username' }, h('input', { id: 'username', autoComplete: 'username', value: username, onChange: (e: { target: { value: string } }) => setUsername(e.target.value) })),
      h(Field, { id: 'password', label: 'Password' }, h('input', { id: 'password', type: 'password', autoComplete: 'current-password', value: password, onChange: (e: { target: { value: string } }) => setPassword(e.target.value) })),
      h(
        Field,
        { id: 'totp', label: 'Authenticator code', hint: 'The 6 digits your authenticator app shows now' },
        h('input', { id: 'totp', inputMode: 'numeric', autoComplete: 'one-time-code', pattern: '[0-9]{6}', maxLength: 6, 'aria-describedby': 'totp-hint', value: totp, onChange: (e: { target: { value: string } }) => setTotp(e.target.value) }),
      ),
      staff.error ? h(Alert, { kind: 'error', testId: 'signin-error' }, staff.error) : null,
      h(
        'div',
        { className: 'choice' },
        h('button', { type: 'submit', className: 'primary', disabled: staff.signingIn }, staff.signingIn ? 'Signing in…' : 'Sign in'),
        h('button', { type: 'button', disabled: staff.signingIn || !username.trim() || !password, onClick: () => void signIn(username.trim(), password, '', { passkey: true }) }, 'Use a passkey instead of a code'),
      ),
    ),
    staff.sso ? h(SsoSignIn, { issuer: staff.sso.issuer, busy: staff.signingIn }) : null,
  );
}

/** The organisation's identity provider, offered where the broker has one (GET /api/v1/auth/oidc). */
function SsoSignIn(props: { issuer: string; busy: boolean }): ReactNode {
  return h(
    'div',
    { className: 'sso-sign-in', 'data-testid': 'sso-sign-in' },
    h('p', { className: 'or' }, 'or'),
    h('button', { type: 'button', className: 'primary', disabled: props.busy, onClick: () => void signInWithSso() }, 'Sign in with your organisation'),
    h('p', { className: 'hint', id: 'sso-hint' }, `You sign in at ${providerName(props.issuer)}, your organisation's identity provider, and come back here.`),
  );
}

export function StaffApp(): ReactNode {
  const account = useAppStore((s) => s.staff.account);
  const firstSignIn = useAppStore((s) => s.staff.firstSignIn);
  // During a session the viewer has the screen to itself; passkeys are managed before or after.
  const inSession = useAppStore((s) => s.live.role === 'analyst' && s.live.state !== 'ended');
  if (!account) return firstSignIn ? h(FirstSignInScreens, { f: firstSignIn }) : h(SignInScreen);
  const isAnalyst = account.roles.includes('analyst');
  const isApprover = account.roles.includes('approver') || account.roles.includes('admin');
  return h(
    'div',
    null,
    h(
      'header',
      { className: 'staff-bar' },
      h('span', null, 'Signed in as ', h('strong', { 'data-testid': 'staff-name' }, account.display_name), ` (${account.roles.join(', ')})`),
      h('button', { type: 'button', onClick: () => void signOut() }, 'Sign out'),
    ),
    isAnalyst ? h(AnalystPanel) : null,
    isApprover ? h(ApproverPanel) : null,
    account.roles.includes('supervisor') || account.roles.includes('admin') ? h(LivePanel) : null,
    account.roles.includes('admin') ? h(AdminPanel) : null,
    account.roles.includes('auditor') || account.roles.includes('admin') ? h(RecordingsPanel) : null,
    inSession
      ? null
      : h(HistoryPanel, {
          seesAll: account.roles.some((r) => r === 'approver' || r === 'admin' || r === 'auditor'),
          playsRecordings: account.roles.includes('auditor') || account.roles.includes('admin'),
        }),
    inSession ? null : h(PasskeysSection),
  );
}

// ---------------------------------------------------------------- analyst

function AnalystPanel(): ReactNode {
  const session = useAppStore((s) => s.staff.session);
  const live = useAppStore((s) => s.live);
  if (live.role === 'analyst' && live.state === 'ended') return h(EndScreen, { role: 'analyst', onDone: newRequest, text: ANALYST_END_TEXT });
  if (live.role === 'analyst') return h(Viewer);
  if (!session) return h(RequestForm);
  return h(RequestStatus, { session });
}

const DURATIONS = [5, 15, 30, 60];

function RequestForm(): ReactNode {
  const staff = useAppStore((s) => s.staff);
  const [ticket, setTicket] = useState('');
  const [reason, setReason] = useState('');
  const [caps, setCaps] = useState<Capability[]>([...CONSENT_CAPABILITIES]);
  const [duration, setDuration] = useState(15);
  const toggle = (c: Capability) => setCaps((x) => (x.includes(c) ? x.filter((y) => y !== c) : [...x, c]));
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'req-title' },
    h(ScreenHeading, { id: 'req-title' }, 'Request a support session'),
    h(
      'form',
      {
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          void requestSession({ ticket: ticket.trim(), reason: reason.trim(), capabilities: caps, durationMinutes: duration });
        },
      },
      h(Field, { id: 'ticket', label: 'Ticket', hint: 'The ticket this session is for, like INC-1234' }, h('input', { id: 'ticket', 'aria-describedby': 'ticket-hint', value: ticket, onChange: (e: { target: { value: string } }) => setTicket(e.target.value), required: true, maxLength: 64 })),
      h(Field, { id: 'reason', label: 'Reason', hint: 'What you need to do; the end user and the approver read this' }, h('textarea', { id: 'reason', 'aria-describedby': 'reason-hint', value: reason, onChange: (e: { target: { value: string } }) => setReason(e.target.value), required: true, maxLength: 500, rows: 3 })),
      h(
        'fieldset',
        null,
        h('legend', null, 'What you ask to do'),
        ...CAPABILITIES.map((c) =>
          h(
            'div',
            { key: c, className: 'check' },
            h('input', { type: 'checkbox', id: `cap-${c}`, checked: caps.includes(c), disabled: c === 'view', onChange: () => toggle(c), 'aria-describedby': `cap-${c}-desc` }),
            h('label', { htmlFor: `cap-${c}` }, ANALYST_CAPABILITY_TEXT[c].name),
            h('span', { id: `cap-${c}-desc`, className: 'hint' }, ` ${ANALYST_CAPABILITY_TEXT[c].what}`),
          ),
        ),
      ),
      h(
        Field,
        { id: 'duration', label: 'Duration' },
        h('select', { id: 'duration', value: duration, onChange: (e: { target: { value: string } }) => setDuration(Number(e.target.value)) }, ...DURATIONS.map((d) => h('option', { key: d, value: d }, `${d} minutes`))),
      ),
      staff.error ? h(Alert, { kind: 'error', testId: 'request-error' }, staff.error) : null,
      h('button', { type: 'submit', className: 'primary', disabled: staff.busy }, staff.busy ? 'Sending…' : 'Send request'),
    ),
  );
}

/** The code and its links, ready to paste into the ticket or a chat with the end user. */
function JoinLinks(props: { code: { display: string; joinUrl: string | null } }): ReactNode {
  const appLink = `chaperone://join/${props.code.display}`;
  return h(
    'div',
    { className: 'join-links', 'data-testid': 'join-links' },
    h('p', { className: 'copy-row' }, h(CopyButton, { text: props.code.display, label: 'Copy code', testId: 'copy-code' })),
    h('p', { className: 'copy-row' }, 'App link: ', h('code', { 'data-testid': 'join-app-link' }, appLink), ' ', h(CopyButton, { text: appLink, label: 'Copy app link', testId: 'copy-app-link' })),
    props.code.joinUrl
      ? h('p', { className: 'copy-row' }, 'Web link: ', h('code', { 'data-testid': 'join-web-link' }, props.code.joinUrl), ' ', h(CopyButton, { text: props.code.joinUrl, label: 'Copy web link', testId: 'copy-web-link' }))
      : null,
  );
}

/** A request that never became a live session ends in other words than one that ran. */
function requestEndText(s: SessionView): string {
  const early = s.activated_at === null && s.end_reason ? ANALYST_REQUEST_END_TEXT[s.end_reason] : undefined;
  return early ?? endText(ANALYST_END_TEXT, s.end_reason);
}

/** The end user typed this code while locked out after wrong ones: why nobody arrives, and until when. */
function LockedOut(props: { until: number | null }): ReactNode {
  const now = useNow();
  if (props.until === null || props.until <= now) return null;
  return h(
    Alert,
    { kind: 'warning', testId: 'join-locked' },
    'The end user entered this code, but after too many wrong codes the broker makes them wait ',
    h(Countdown, { until: props.until, label: 'The end user can try again in' }),
    '. Ask them to wait, then enter it once more. If this code runs out first, you can get a new one.',
  );
}

/** An unused code ran out while the approval still holds: a new one needs no approver. */
function reissuable(s: SessionView): boolean {
  return s.end_reason === 'code_expired' && s.approval.deadline !== null && s.approval.deadline > brokerNow();
}

function ReissueOffer(props: { session: SessionView }): ReactNode {
  const busy = useAppStore((s) => s.staff.busy);
  const s = props.session;
  if (!reissuable(s) || s.approval.deadline === null) return null;
  return h(
    'div',
    { 'data-testid': 'reissue' },
    h('p', null, 'The approval still holds for ', h(Countdown, { until: s.approval.deadline, label: 'Approval holds for' }), ': you can give the end user a new code without asking again. The old code stays dead.'),
    h('button', { type: 'button', className: 'primary', disabled: busy, onClick: () => void reissueCode() }, busy ? 'Getting a code…' : 'Get a new code'),
  );
}

function RequestStatus(props: { session: SessionView }): ReactNode {
  const code = useAppStore((s) => s.staff.code);
  const error = useAppStore((s) => s.staff.error);
  const [cancelling, setCancelling] = useState(false);
  const s = props.session;
  let body: ReactNode;
  switch (s.state) {
    case 'awaiting_approval':
      body = h('div', null, h('p', { 'data-testid': 'request-state' }, 'Waiting for an approver.'), h('p', { className: 'small' }, s.approval.why), h('p', { className: 'small' }, 'You cannot get a join code until the request is approved.'));
      break;
    case 'approved':
      body = h('p', { 'data-testid': 'request-state' }, 'Approved. Getting a join code…');
      break;
    case 'code_issued':
    case 'pending_consent':
      body = h(
        'div',
        null,
        h('p', { 'data-testid': 'request-state' }, s.state === 'pending_consent' ? 'The end user entered the code and is reading the consent screen.' : 'Approved. Read this code to the end user:'),
        code ? h('p', { className: 'join-code', 'data-testid': 'join-code' }, code.display) : null,
        code && s.state === 'code_issued' ? h(JoinLinks, { code }) : null,
        code && s.state === 'code_issued' ? h('p', { className: 'small' }, 'It works once and expires in ', h(Countdown, { until: code.expiresAt, label: 'Code expires in' }), '.') : null,
        s.state === 'code_issued' ? h(LockedOut, { until: s.join_locked_until }) : null,
      );
      break;
    case 'ended':
      body = h(
        'div',
        null,
        h(Alert, { kind: s.end_reason === 'rejected' ? 'error' : 'info', testId: 'request-state' }, requestEndText(s)),
        s.end_reason === 'rejected' && s.approval.rejection_reason
          ? h('p', { 'data-testid': 'rejection-reason' }, `${s.approval.approver_name ?? 'The approver'} wrote: `, h('q', null, s.approval.rejection_reason))
          : null,
        h(ReissueOffer, { session: s }),
        h('button', { type: 'button', className: reissuable(s) ? '' : 'primary', onClick: newRequest }, 'New request'),
      );
      break;
    case 'requested':
    case 'active':
      body = h('p', { 'data-testid': 'request-state' }, s.state === 'active' ? 'The end user accepted. Opening the session…' : 'Sending the request…');
      break;
    default:
      body = missingCase(s.state);
  }
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'status-title' },
    h(ScreenHeading, { id: 'status-title' }, `Request for ${s.ticket}`),
    h('p', null, `You asked to ${capabilityList(s.capabilities)} for ${durationText(s.duration_minutes * 60)}. Reason: ${s.reason}`),
    body,
    error ? h(Alert, { kind: 'error' }, error) : null,
    s.state !== 'ended' ? h('button', { type: 'button', onClick: () => setCancelling(true) }, 'Cancel request') : null,
    cancelling && s.state !== 'ended'
      ? h(ConfirmDialog, {
          id: 'cancel-request',
          title: `Cancel the request for ${s.ticket}?`,
          body: s.state === 'pending_consent' ? 'The end user is reading the consent screen now; it closes for them and nothing is shared.' : 'The join code stops working and nothing is shared. To help them later you need a new request.',
          confirm: 'Cancel the request',
          keep: 'Keep the request',
          onConfirm: () => {
            setCancelling(false);
            void cancelRequest();
          },
          onKeep: () => setCancelling(false),
        })
      : null,
  );
}

// ---------------------------------------------------------------- approver

function ApproverPanel(): ReactNode {
  const a = useAppStore((s) => s.approvals);
  const me = useAppStore((s) => s.staff.account);
  const [killing, setKilling] = useState<SessionView | null>(null);
  const [notify, setNotify] = useState(() => (typeof Notification === 'undefined' ? 'unsupported' : Notification.permission));
  useEffect(() => watchApprovals(), []);
  // The count of waiting requests in the window's title (the tab shows it while another is in front).
  const waiting = a.pending.filter((p) => p.analyst.id !== me?.id).length;
  useEffect(() => {
    const base = 'Chaperone remote support';
    document.title = waiting > 0 ? `(${waiting}) ${waiting === 1 ? 'request waits' : 'requests wait'} for approval — ${base}` : base;
    return () => {
      document.title = base;
    };
  }, [waiting]);
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'appr-title' },
    h(ScreenHeading, { id: 'appr-title', level: me?.roles.includes('analyst') ? 2 : 1 }, 'Requests waiting for approval'),
    notify === 'default'
      ? h('p', null, h('button', { type: 'button', onClick: () => void Notification.requestPermission().then(setNotify), 'data-testid': 'enable-notifications' }, 'Tell me on the desktop when a request arrives'))
      : null,
    a.message ? h(Alert, { testId: 'approvals-message' }, a.message) : null,
    a.error ? h(Alert, { kind: 'error', testId: 'approvals-error' }, a.error) : null,
    a.loaded && a.pending.length === 0 ? h('p', { 'data-testid': 'no-pending' }, 'Nothing is waiting.') : null,
    h('ul', { className: 'requests' }, ...a.pending.map((s) => h(PendingCard, { key: s.id, s, mine: s.analyst.id === me?.id }))),
    me?.roles.includes('approver') ? h(PendingExtensions, { meId: me.id }) : null,
    h('h2', null, 'Live sessions'),
    a.active.length === 0 ? h('p', null, 'No session is live.') : null,
    h(
      'ul',
      { className: 'requests' },
      ...a.active.map((s) =>
        h(
          'li',
          { key: s.id, className: 'request', 'data-testid': `active-${s.ticket}` },
          h('p', null, h('strong', null, s.analyst.display_name), ` on ${s.ticket}: ${capabilityList(s.capabilities)}`, s.expires_at ? h('span', null, ', ', h(Countdown, { until: s.expires_at, label: 'Time left' }), ' left') : null),
          h('button', { type: 'button', className: 'danger', onClick: () => setKilling(s) }, `Kill switch: end ${s.ticket} now`),
        ),
      ),
    ),
    killing
      ? h(ConfirmDialog, {
          id: 'kill',
          title: `End ${killing.ticket} now with the kill switch?`,
          body: `${killing.analyst.display_name} loses the end user's screen and any control at once; the end user sees that the session was ended. This cannot be undone.`,
          confirm: `End ${killing.ticket} now`,
          keep: 'Back',
          reason: { label: 'Reason (optional)', hint: 'A few words; the end user and the analyst read them, and the audit keeps them', max: MAX_KILL_REASON_CHARS },
          onConfirm: (reason) => {
            setKilling(null);
            void kill(killing.id, reason);
          },
          onKeep: () => setKilling(null),
        })
      : null,
  );
}

function PendingExtensions(props: { meId: string }): ReactNode {
  const a = useAppStore((s) => s.approvals);
  return h(
    'div',
    null,
    h('h2', null, 'Requests for more time'),
    a.loaded && a.extensions.length === 0 ? h('p', { 'data-testid': 'no-pending-extensions' }, 'Nobody is asking for more time.') : null,
    h('ul', { className: 'requests' }, ...a.extensions.map((x) => h(ExtensionCard, { key: x.id, x, mine: x.analyst.id === props.meId }))),
  );
}

function ExtensionCard(props: { x: PendingExtension; mine: boolean }): ReactNode {
  const { x } = props;
  const [reason, setReason] = useState('');
  const offset = useAppStore((s) => s.clockOffsetMs);
  const at = (ms: number) => new Date(ms - offset).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const id = `ext-${x.id}`;
  return h(
    'li',
    { className: 'request', 'aria-labelledby': `${id}-t`, 'data-testid': `extension-${x.ticket}` },
    h('h3', { id: `${id}-t` }, `${x.analyst.display_name} (${x.analyst.organisation}, ${kindText(x.analyst.kind)}) asks for ${x.minutes} more minutes — ${x.ticket}`),
    h(
      'dl',
      { className: 'facts' },
      h('dt', null, 'How much'),
      h('dd', null, `${x.minutes} more minutes`, x.expires_at !== null ? `: the session would end at ${at(x.expires_at + x.minutes * 60_000)} instead of ${at(x.expires_at)}` : ''),
      h('dt', null, 'Time left now'),
      h('dd', null, x.expires_at !== null ? h(Countdown, { until: x.expires_at, label: 'Time left' }) : 'unknown'),
      h('dt', null, 'Why (the session)'),
      h('dd', null, x.reason),
      h('dt', null, 'What they can do'),
      h('dd', null, capabilityList(x.capabilities)),
      x.hard_deadline !== null ? h('dt', null, 'Latest end policy allows') : null,
      x.hard_deadline !== null ? h('dd', null, at(x.hard_deadline)) : null,
    ),
    props.mine
      ? h('p', { className: 'small' }, 'This is your own session; another approver must decide.')
      : h(
          'div',
          null,
          h(
            Field,
            { id: `${id}-reason`, label: 'Reason if you reject (optional; the analyst sees it)' },
            h('textarea', { id: `${id}-reason`, value: reason, maxLength: 500, rows: 2, onChange: (e: { target: { value: string } }) => setReason(e.target.value) }),
          ),
          h(
            'div',
            { className: 'choice' },
            h('button', { type: 'button', className: 'choice-button accept', onClick: () => void decideExtension(x, true) }, `Approve more time for ${x.ticket}`),
            h('button', { type: 'button', className: 'choice-button decline', onClick: () => void decideExtension(x, false, reason.trim()) }, `Reject more time for ${x.ticket}`),
          ),
        ),
  );
}

function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function PendingCard(props: { s: SessionView; mine: boolean }): ReactNode {
  const { s } = props;
  const [rejecting, setRejecting] = useState(false);
  const [reason, setReason] = useState('');
  const id = `req-${s.id}`;
  return h(
    'li',
    { className: 'request', 'aria-labelledby': `${id}-t`, 'data-testid': `pending-${s.ticket}` },
    h('h3', { id: `${id}-t` }, `${s.analyst.display_name} (${s.analyst.organisation}, ${kindText(s.analyst.kind)}) — ${s.ticket}`),
    h(
      'dl',
      { className: 'facts' },
      h('dt', null, 'Why'),
      h('dd', null, s.reason),
      h('dt', null, 'They ask to'),
      h('dd', null, h('ul', null, ...s.capabilities.map((c) => h('li', { key: c }, isCapability(c) ? APPROVER_CAPABILITY_TEXT[c] : c)))),
      h('dt', null, 'How long'),
      h('dd', null, durationText(s.duration_minutes * 60)),
      // The end user is not known to the broker before they enter the code: the card says who decides.
      h('dt', null, 'The end user'),
      h('dd', { 'data-testid': 'pending-end-user' }, `The person ${s.analyst.display_name} gives the join code to for ${s.ticket}. They see who asks and what for, and accept or decline on their own screen; their computer is in the history afterwards.`),
      h('dt', null, 'Why approval'),
      h('dd', null, s.approval.why),
      h('dt', null, 'Asked'),
      h('dd', { 'data-testid': 'asked-at' }, `at ${clock(s.created_at)}`),
      s.approval.deadline !== null ? h('dt', null, 'Approval window') : null,
      s.approval.deadline !== null ? h('dd', { 'data-testid': 'approval-window' }, h(Countdown, { until: s.approval.deadline, label: 'Approval window closes in' }), ' left to decide') : null,
    ),
    props.mine
      ? h('p', { className: 'small' }, 'This is your own request; another approver must decide.')
      : rejecting
        ? h(
            'form',
            {
              onSubmit: (e: { preventDefault(): void }) => {
                e.preventDefault();
                if (reason.trim()) void reject(s.id, reason.trim());
              },
            },
            h(Field, { id: `${id}-reason`, label: 'Reason for rejecting' }, h('textarea', { id: `${id}-reason`, value: reason, maxLength: 500, rows: 2, required: true, onChange: (e: { target: { value: string } }) => setReason(e.target.value) })),
            h('div', { className: 'choice' }, h('button', { type: 'submit', className: 'choice-button decline' }, 'Reject'), h('button', { type: 'button', className: 'choice-button', onClick: () => setRejecting(false) }, 'Back')),
          )
        : h(
            'div',
            { className: 'choice' },
            h('button', { type: 'button', className: 'choice-button accept', onClick: () => void approve(s.id) }, `Approve ${s.ticket}`),
            h('button', { type: 'button', className: 'choice-button decline', onClick: () => setRejecting(true) }, `Reject ${s.ticket}…`),
          ),
  );
}
