import { useEffect, useState, type ReactNode } from 'react';
import { ANALYST_KINDS, ROLES, type AnalystKind, type Role } from '../../../common/roles.js';
import {
  addUser,
  deliveries,
  disableUser,
  latestAudit,
  listUsers,
  problem,
  resetOneTimePassword,
  rotateKey,
  retryDelivery,
  setOrganisation,
  setRoles,
  verifyAudit,
  type AuditRow,
  type AuditVerified,
  type DeliveryRow,
  type UserRow,
} from '../flows/admin.js';
import { useAppStore } from '../store.js';
import { Alert, Field, h } from './ui.js';
import { PolicyTab } from './admin-policy.js';

/** What the CLI does, in the console: people, the audit log, hook deliveries, the signing key. */
const TABS = [
  { id: 'users', label: 'People' },
  { id: 'policy', label: 'Policy' },
  { id: 'audit', label: 'Audit log' },
  { id: 'hooks', label: 'Webhook deliveries' },
  { id: 'keys', label: 'Signing key' },
] as const;
type Tab = (typeof TABS)[number]['id'];

const ROLE_TEXT: Record<Role, string> = {
  analyst: 'analyst (asks for sessions)',
  approver: 'approver (approves requests, kill switch)',
  admin: 'admin (people, keys, audit)',
  auditor: 'auditor (reads and verifies the audit log, plays recordings)',
  supervisor: 'supervisor (watches live sessions, can suspend control or end them)',
};

const when = (ms: number) => new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' });

export function AdminPanel(): ReactNode {
  const [tab, setTab] = useState<Tab>('users');
  let body: ReactNode;
  switch (tab) {
    case 'users':
      body = h(UsersTab);
      break;
    case 'policy':
      body = h(PolicyTab);
      break;
    case 'audit':
      body = h(AuditTab);
      break;
    case 'hooks':
      body = h(HooksTab);
      break;
    case 'keys':
      body = h(KeysTab);
      break;
  }
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'admin-title' },
    h('h2', { id: 'admin-title' }, 'Administration'),
    h(
      'nav',
      { 'aria-label': 'Administration', className: 'tabs' },
      ...TABS.map((t) => h('button', { key: t.id, type: 'button', className: t.id === tab ? 'tab tab-current' : 'tab', 'aria-pressed': t.id === tab, onClick: () => setTab(t.id) }, t.label)),
    ),
    body,
  );
}

// ---------------------------------------------------------------- people

function UsersTab(): ReactNode {
  const [users, setUsers] = useState<UserRow[] | null>(null);
  const [message, setMessage] = useState<ReactNode>(null);
  const [error, setError] = useState<string | null>(null);
  const reload = async () => {
    try {
      setUsers(await listUsers());
    } catch (err) {
      setError(problem(err));
    }
  };
  useEffect(() => void reload(), []);
  /** Runs one change, says what happened (or why not) and reloads the list. */
  const act = async (run: () => Promise<ReactNode>) => {
    setError(null);
    setMessage(null);
    try {
      setMessage(await run());
    } catch (err) {
      setError(problem(err));
    }
    await reload();
  };
  return h(
    'div',
    null,
    h('h3', null, 'Add a person'),
    h(AddUserForm, { act }),
    message ? h(Alert, { testId: 'admin-message' }, message) : null,
    error ? h(Alert, { kind: 'error', testId: 'admin-error' }, error) : null,
    h('h3', null, 'People'),
    users === null ? h('p', null, 'Loading…') : h('ul', { className: 'requests' }, ...users.map((x) => h(UserCard, { key: x.id, x, act }))),
  );
}

function OneTimePassword(props: { name: string; otp: string; what: string }): ReactNode {
  return h(
    'span',
    null,
    `${props.what} Give ${props.name} this one-time password; it is shown only now: `,
    h('code', { className: 'secret', 'data-testid': 'one-time-password' }, props.otp),
    '. At their first sign-in in this app they choose their own password and set up their authenticator app.',
  );
}

function RoleChecks(props: { idPrefix: string; roles: Role[]; onChange: (r: Role[]) => void; legend: string }): ReactNode {
  return h(
    'fieldset',
    null,
    h('legend', null, props.legend),
    ...ROLES.map((r) =>
      h(
        'div',
        { key: r, className: 'check' },
        h('input', { type: 'checkbox', id: `${props.idPrefix}-${r}`, checked: props.roles.includes(r), onChange: () => props.onChange(props.roles.includes(r) ? props.roles.filter((x) => x !== r) : [...props.roles, r]) }),
        h('label', { htmlFor: `${props.idPrefix}-${r}` }, ROLE_TEXT[r]),
      ),
    ),
  );
}

function AddUserForm(props: { act: (run: () => Promise<ReactNode>) => Promise<void> }): ReactNode {
  const [username, setUsername] = useState('');
  const [name, setName] = useState('');
  const [org, setOrg] = useState('');
  const [kind, setKind] = useState<AnalystKind>('internal');
  const [roles, setRolesState] = useState<Role[]>(['analyst']);
  return h(
    'form',
    {
      onSubmit: (e: { preventDefault(): void }) => {
        e.preventDefault();
        void props.act(async () => {
          const c = await addUser({ username: username.trim(), display_name: name.trim(), organisation: org.trim(), kind, roles });
          setUsername('');
          setName('');
          return h(OneTimePassword, { name: c.account.display_name, otp: c.one_time_password, what: `${c.account.display_name} can sign in now.` });
        });
      },
    },
    h(Field, { id: 'new-username', label: 'Username', hint: 'Lower-case letters, digits, dot, dash or underscore' }, h('input', { id: 'new-username', 'aria-describedby': 'new-username-hint', value: username, required: true, maxLength: 63, onChange: (e: { target: { value: string } }) => setUsername(e.target.value) })),
    h(Field, { id: 'new-name', label: 'Full name', hint: 'The end user reads this on the consent screen' }, h('input', { id: 'new-name', 'aria-describedby': 'new-name-hint', value: name, required: true, maxLength: 200, onChange: (e: { target: { value: string } }) => setName(e.target.value) })),
    h(Field, { id: 'new-org', label: 'Organisation', hint: 'Named on the consent screen too, for example your company or the vendor' }, h('input', { id: 'new-org', 'aria-describedby': 'new-org-hint', value: org, required: true, maxLength: 200, onChange: (e: { target: { value: string } }) => setOrg(e.target.value) })),
    h(Field, { id: 'new-kind', label: 'Works as' }, h('select', { id: 'new-kind', value: kind, onChange: (e: { target: { value: string } }) => setKind(e.target.value as AnalystKind) }, ...ANALYST_KINDS.map((k) => h('option', { key: k, value: k }, k.replace('_', ' '))))),
    h(RoleChecks, { idPrefix: 'new-role', roles, onChange: setRolesState, legend: 'Roles' }),
    h('button', { type: 'submit', className: 'primary', disabled: roles.length === 0 }, 'Add person'),
  );
}

function UserCard(props: { x: UserRow; act: (run: () => Promise<ReactNode>) => Promise<void> }): ReactNode {
  const { x, act } = props;
  // An admin does not lock themselves out from here: another admin (or the CLI) does that.
  const self = useAppStore((s) => s.staff.account?.id === x.id);
  const [roles, setRolesState] = useState<Role[]>(x.roles);
  const [org, setOrg] = useState(x.organisation);
  const [confirming, setConfirming] = useState(false);
  const id = `user-${x.username}`;
  // People are named by their display name; the username follows it where two people could share a name.
  const who = x.display_name;
  const named = `${x.display_name} (${x.username})`;
  const status = x.disabled ? 'disabled' : x.must_change_password ? 'has not signed in yet (one-time password)' : 'active';
  return h(
    'li',
    { className: 'request', 'aria-labelledby': `${id}-t`, 'data-testid': id },
    h('h4', { id: `${id}-t` }, `${x.display_name} (${x.username})`),
    h('p', { className: 'small' }, `${x.organisation}; ${x.kind.replace('_', ' ')}; ${x.roles.join(', ')}; ${status}; authenticator app ${x.totp ? 'set' : 'none'}`),
    x.disabled
      ? null
      : h(
          'div',
          null,
          h(RoleChecks, { idPrefix: `${id}-role`, roles, onChange: setRolesState, legend: `Roles of ${named}` }),
          h(
            'button',
            { type: 'button', disabled: roles.length === 0, onClick: () => void act(async () => `${who} now has the roles ${(await setRoles(x.username, roles)).roles.join(', ')}. A role taken away ends their sessions and sign-ins at once.`) },
            `Save roles of ${named}`,
          ),
          h(Field, { id: `${id}-org`, label: `Organisation of ${named}` }, h('input', { id: `${id}-org`, value: org, maxLength: 200, onChange: (e: { target: { value: string } }) => setOrg(e.target.value) })),
          h('button', { type: 'button', onClick: () => void act(async () => `${who} now shows as ${(await setOrganisation(x.username, org.trim())).organisation} on new consent screens.`) }, `Save organisation of ${named}`),
          h(
            'div',
            { className: 'choice' },
            h(
              'button',
              { type: 'button', onClick: () => void act(async () => h(OneTimePassword, { name: who, otp: (await resetOneTimePassword(x.username)).one_time_password, what: `${who}'s password was replaced and their sign-ins ended.` })) },
              `New one-time password for ${named}`,
            ),
            self
              ? h('span', { className: 'small' }, 'This is you: another admin can disable this account.')
              : confirming
              ? h(
                  'span',
                  { className: 'choice' },
                  h('button', { type: 'button', className: 'danger', onClick: () => void act(async () => {
                    await disableUser(x.username);
                    return `${who} is disabled: every sign-in and live session of theirs ended.`;
                  }) }, `Yes, disable ${named}`),
                  h('button', { type: 'button', onClick: () => setConfirming(false) }, 'Keep the account'),
                )
              : h('button', { type: 'button', className: 'danger', onClick: () => setConfirming(true) }, `Disable ${named}…`),
          ),
        ),
  );
}


// ---------------------------------------------------------------- audit log

function AuditTab(): ReactNode {
  const [rows, setRows] = useState<AuditRow[] | null>(null);
  const [filter, setFilter] = useState('');
  const [outcome, setOutcome] = useState('');
  const [verified, setVerified] = useState<AuditVerified | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = async () => {
    try {
      setRows(await latestAudit());
    } catch (err) {
      setError(problem(err));
    }
  };
  useEffect(() => void load(), []);
  const f = filter.trim().toLowerCase();
  const shown = (rows ?? []).filter((e) => (!outcome || e.outcome === outcome) && (!f || `${e.type} ${e.actor} ${e.ticket ?? ''} ${e.session_id ?? ''}`.toLowerCase().includes(f)));
  return h(
    'div',
    null,
    h(
      'div',
      { className: 'choice' },
      h(
        'button',
        {
          type: 'button',
          className: 'primary',
          onClick: async () => {
            setError(null);
            try {
              setVerified(await verifyAudit());
            } catch (err) {
              setError(problem(err));
            }
            await load();
          },
        },
        'Verify the whole chain',
      ),
      h('button', { type: 'button', onClick: () => void load() }, 'Reload'),
    ),
    verified
      ? h(
          Alert,
          { kind: verified.ok ? 'info' : 'error', testId: 'audit-verified' },
          verified.ok ? `Intact: ${verified.events} events, hashes and signed checkpoints check out.` : `Broken at event ${verified.first_bad?.seq}: ${verified.first_bad?.problem}`,
          ...verified.warnings.map((w) => h('p', { key: w, className: 'small' }, w)),
        )
      : null,
    h('p', { className: 'small' }, 'For a signed copy to check elsewhere: chaperone-broker audit export, then audit verify --file on any machine.'),
    error ? h(Alert, { kind: 'error' }, error) : null,
    h(
      'div',
      { className: 'filters' },
      h(Field, { id: 'audit-filter', label: 'Filter', hint: 'Part of an event type, a person, a ticket or a session' }, h('input', { id: 'audit-filter', 'aria-describedby': 'audit-filter-hint', value: filter, maxLength: 100, onChange: (e: { target: { value: string } }) => setFilter(e.target.value) })),
      h(
        Field,
        { id: 'audit-outcome', label: 'Outcome' },
        h('select', { id: 'audit-outcome', value: outcome, onChange: (e: { target: { value: string } }) => setOutcome(e.target.value) }, h('option', { value: '' }, 'any'), h('option', { value: 'success' }, 'success'), h('option', { value: 'denied' }, 'denied'), h('option', { value: 'failure' }, 'failure')),
      ),
    ),
    rows === null
      ? h('p', null, 'Loading…')
      : h(
          'div',
          { className: 'table-wrap' },
          h('p', { className: 'small', 'aria-live': 'polite' }, `${shown.length} of the newest ${rows.length} events`),
          h(
            'table',
            { className: 'audit', 'data-testid': 'audit-table' },
            h('caption', { className: 'visually-hidden' }, 'Audit events, newest first'),
            h('thead', null, h('tr', null, ...['#', 'When', 'Event', 'Outcome', 'Who', 'Ticket'].map((c) => h('th', { key: c, scope: 'col' }, c)))),
            h('tbody', null, ...shown.slice(0, 200).map((e) => h('tr', { key: e.seq }, h('td', null, e.seq), h('td', null, when(e.ts)), h('td', null, e.type), h('td', null, e.outcome), h('td', null, e.actor), h('td', null, e.ticket ?? '')))),
          ),
        ),
  );
}

// ---------------------------------------------------------------- hooks

function HooksTab(): ReactNode {
  const [status, setStatus] = useState<'' | 'pending' | 'delivered' | 'failed'>('');
  const [rows, setRows] = useState<DeliveryRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const load = () => deliveries(status).then(setRows, (err: unknown) => setError(problem(err)));
  useEffect(() => void load(), [status]);
  const retry = async (d: DeliveryRow) => {
    setError(null);
    setNote(null);
    try {
      await retryDelivery(d.id);
      setNote(`Sending the ${d.event_type} delivery to ${hostOf(d.url)} again now. Its status below changes when it is answered.`);
      await load();
      // One attempt takes at most 10 s; the list shows its outcome without a reload.
      for (let i = 0; i < 12; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        const fresh = await deliveries(status);
        setRows(fresh);
        if (fresh.find((x) => x.id === d.id)?.status !== 'pending') break;
      }
    } catch (err) {
      setError(problem(err));
    }
  };
  return h(
    'div',
    null,
    h('p', null, 'Post-session hooks and webhooks the broker sent. A failed one was retried on the schedule in broker.json before it was given up.'),
    h(
      Field,
      { id: 'hook-status', label: 'Show' },
      h('select', { id: 'hook-status', value: status, onChange: (e: { target: { value: string } }) => setStatus(e.target.value as typeof status) }, h('option', { value: '' }, 'all'), h('option', { value: 'pending' }, 'pending (will be retried)'), h('option', { value: 'delivered' }, 'delivered'), h('option', { value: 'failed' }, 'failed after every retry')),
    ),
    error ? h(Alert, { kind: 'error' }, error) : null,
    note ? h(Alert, { kind: 'info', testId: 'delivery-note' }, note) : null,
    rows === null
      ? h('p', null, 'Loading…')
      : rows.length === 0
        ? h('p', { 'data-testid': 'no-deliveries' }, 'No deliveries.')
        : h(
            'div',
            { className: 'table-wrap' },
            h(
              'table',
              { className: 'audit', 'data-testid': 'deliveries-table' },
              h('caption', { className: 'visually-hidden' }, 'Webhook deliveries, newest first'),
              h('thead', null, h('tr', null, ...['Event', 'To', 'Status', 'Attempts', 'Last error', 'Next attempt', 'Retry'].map((c) => h('th', { key: c, scope: 'col' }, c)))),
              h(
                'tbody',
                null,
                ...rows.map((d) =>
                  h(
                    'tr',
                    { key: d.id },
                    h('td', null, d.event_type),
                    h('td', null, d.url),
                    h('td', { 'data-testid': 'delivery-status' }, d.status),
                    h('td', null, d.attempts),
                    h('td', null, d.last_error ?? ''),
                    h('td', null, d.status === 'pending' ? when(d.next_attempt_at) : ''),
                    h('td', null, d.status === 'failed' ? h('button', { type: 'button', 'aria-label': `Retry now: the ${d.event_type} delivery to ${hostOf(d.url)}`, onClick: () => void retry(d) }, 'Retry now') : ''),
                  ),
                ),
              ),
            ),
          ),
  );
}

// ---------------------------------------------------------------- keys

function KeysTab(): ReactNode {
  const [confirming, setConfirming] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  return h(
    'div',
    null,
    h('p', null, 'The broker signs tokens, offers and the audit log with one key. Rotating starts a new key now; the old one stays published until every token it signed has expired, so nobody is signed out.'),
    done ? h(Alert, { testId: 'key-rotated' }, done) : null,
    error ? h(Alert, { kind: 'error' }, error) : null,
    confirming
      ? h(
          'div',
          { className: 'choice' },
          h(
            'button',
            {
              type: 'button',
              className: 'danger',
              onClick: async () => {
                setConfirming(false);
                try {
                  const r = await rotateKey();
                  setDone(`Now signing with key ${r.kid}. The previous key ${r.previous} stays published until its tokens expire.`);
                } catch (err) {
                  setError(problem(err));
                }
              },
            },
            'Yes, rotate the signing key now',
          ),
          h('button', { type: 'button', onClick: () => setConfirming(false) }, 'Keep the current key'),
        )
      : h('button', { type: 'button', className: 'primary', onClick: () => setConfirming(true) }, 'Rotate the signing key…'),
  );
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
