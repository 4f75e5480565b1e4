import { useEffect, useState, type ReactNode } from 'react';
import { CAPABILITIES, GRANTABLE_CAPABILITIES } from '../../../common/capabilities.js';
import { RECORDING_MODES } from '../../../common/recording.js';
import { ANALYST_KINDS, ROLES, type AnalystKind, type Role } from '../../../common/roles.js';
import { policy, problem, savePolicy, type PolicyView } from '../flows/admin.js';
import { changedInWords, policyProblemInWords } from './policy-words.js';
import { Alert, Field, h } from './ui.js';
import { WatcherPolicy } from './policy-watchers.js';

const CAPABILITY_WORDS: Record<(typeof CAPABILITIES)[number], string> = { view: 'seeing the screen', chat: 'chat', clipboard: 'clipboard', files: 'file transfer', control: 'control of mouse and keyboard' };
const KIND_WORDS: Record<AnalystKind, string> = { internal: 'internal staff', vendor: 'an outside vendor', incident_responder: 'an incident responder' };
const RECORDING_WORDS: Record<(typeof RECORDING_MODES)[number], string> = { off: 'not recorded', best_effort: 'recorded when possible', required: 'always recorded (no recording, no session)' };
const ROLE_WORDS: Record<Role, string> = { analyst: 'analysts', approver: 'approvers', admin: 'admins', auditor: 'auditors', supervisor: 'supervisors' };

/**
 * Every setting of the organisation's policy (common/policy.ts), as the admin edits it. The broker
 * checks the whole policy with the same schema as broker.json and says what is wrong; this form
 * only puts it in words.
 */
export function PolicyTab(): ReactNode {
  const [shown, setShown] = useState<{ policy: PolicyView; version: number } | null>(null);
  const [draft, setDraft] = useState<PolicyView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = async () => {
    try {
      const r = await policy();
      setShown(r);
      setDraft(r.policy);
    } catch (err) {
      setError(problem(err));
    }
  };
  useEffect(() => void load(), []);
  if (!shown || !draft) return error ? h(Alert, { kind: 'error' }, error) : h('p', null, 'Loading…');
  const p = draft;
  const set = (patch: Partial<PolicyView>) => setDraft({ ...p, ...patch });
  const rec = (patch: Partial<PolicyView['recordings']>) => set({ recordings: { ...p.recordings, ...patch } });
  const toggle = <T extends string>(list: readonly T[], v: T, on: boolean): T[] => (on ? [...new Set([...list, v])] : list.filter((x) => x !== v));
  const num = (id: string, label: string, hint: string, value: number, onValue: (n: number) => void) =>
    h(Field, { id, label, hint }, h('input', { id, type: 'number', inputMode: 'numeric', 'aria-describedby': `${id}-hint`, value: String(value), onChange: (e: { target: { value: string } }) => onValue(Number(e.target.value)) }));
  const boxes = <T extends string>(legend: string, all: readonly T[], chosen: readonly T[], words: (v: T) => string, onList: (l: T[]) => void) =>
    h(
      'fieldset',
      null,
      h('legend', null, legend),
      ...all.map((v) => h('label', { key: v, className: 'policy-check' }, h('input', { type: 'checkbox', checked: chosen.includes(v), onChange: (e: { target: { checked: boolean } }) => onList(toggle(chosen, v, e.target.checked)) }), ` ${words(v)}`)),
    );
  const modes = (id: string, label: string, value: string, onValue: (v: (typeof RECORDING_MODES)[number]) => void) =>
    h(Field, { id, label }, h('select', { id, value, onChange: (e: { target: { value: string } }) => onValue(e.target.value as (typeof RECORDING_MODES)[number]) }, ...RECORDING_MODES.map((m) => h('option', { key: m, value: m }, RECORDING_WORDS[m]))));
  const group = (legend: string, ...children: ReactNode[]) => h('fieldset', { className: 'policy-group' }, h('legend', null, legend), ...children);
  const dirty = JSON.stringify(draft) !== JSON.stringify(shown.policy);
  return h(
    'form',
    {
      'data-testid': 'policy-form',
      onSubmit: async (e: { preventDefault(): void }) => {
        e.preventDefault();
        if (busy) return;
        setBusy(true);
        setError(null);
        setNote(null);
        try {
          const r = await savePolicy(draft, shown.version);
          setShown({ policy: r.policy, version: r.version });
          setDraft(r.policy);
          setNote(r.changed.length === 0 ? 'Nothing changed.' : `Saved. New requests follow it from now on; sessions already approved keep what they were approved with. Changed: ${changedInWords(r.changed)}.`);
        } catch (err) {
          setError(policyProblemInWords(problem(err)));
        }
        setBusy(false);
      },
    },
    h('p', null, 'The rules every request follows. Saving replaces what broker.json says, for every broker on this database; each change is in the audit log with your name.'),
    h(
      Field,
      { id: 'pol-org', label: 'Organisation name', hint: 'The end user reads it on every consent screen' },
      h('input', { id: 'pol-org', 'aria-describedby': 'pol-org-hint', maxLength: 120, value: p.organisation, onChange: (e: { target: { value: string } }) => set({ organisation: e.target.value }) }),
    ),
    group(
      'Approval',
      boxes('Approved without an approver', CAPABILITIES, p.auto_approve.capabilities, (c) => CAPABILITY_WORDS[c], (l) => set({ auto_approve: { ...p.auto_approve, capabilities: l } })),
      boxes('…when the analyst is', ANALYST_KINDS, p.auto_approve.analyst_kinds, (k) => KIND_WORDS[k], (l) => set({ auto_approve: { ...p.auto_approve, analyst_kinds: l } })),
      num('pol-approval', 'Approver has (minutes)', 'How long a request waits for an approver before it lapses', p.approval_window_minutes, (n) => set({ approval_window_minutes: n })),
      h('label', { className: 'policy-check' }, h('input', { type: 'checkbox', checked: p.require_open_ticket, onChange: (e: { target: { checked: boolean } }) => set({ require_open_ticket: e.target.checked }) }), ' A session needs a ticket the ticketing system says is open'),
    ),
    group(
      'Durations',
      num('pol-max', 'Longest session asked for (minutes)', 'What an analyst may ask for at once', p.max_duration_minutes, (n) => set({ max_duration_minutes: n })),
      num('pol-hard', 'Longest session with extensions (minutes)', 'No session runs longer, however often it is extended', p.hard_max_minutes, (n) => set({ hard_max_minutes: n })),
      num('pol-code', 'A join code works for (minutes)', 'From when the analyst gets it until the end user types it', p.code_ttl_minutes, (n) => set({ code_ttl_minutes: n })),
      num('pol-offer', 'The end user has to accept within (seconds)', 'How long the consent screen can be answered', p.offer_ttl_seconds, (n) => set({ offer_ttl_seconds: n })),
      num('pol-prompt', 'The end user has to answer a request within (seconds)', 'For control, clipboard and files; no answer is a refusal', p.control_prompt_seconds, (n) => set({ control_prompt_seconds: n })),
      num('pol-heartbeat', 'A silent end user stays connected for (seconds)', 'After that the session ends as lost', p.heartbeat_timeout_seconds, (n) => set({ heartbeat_timeout_seconds: n })),
    ),
    group(
      'Capabilities',
      boxes('Switched off for everyone', GRANTABLE_CAPABILITIES, p.denied_capabilities, (c) => CAPABILITY_WORDS[c], (l) => set({ denied_capabilities: l })),
      h(
        'label',
        { className: 'policy-check' },
        h('input', { type: 'checkbox', checked: p.clipboard_images, 'data-testid': 'policy-clipboard-images', onChange: (e: { target: { checked: boolean } }) => set({ clipboard_images: e.target.checked }) }),
        ' The clipboard may carry pictures (PNG, up to 1 MB) as well as text (the end user reads this before accepting; off: text only)',
      ),
    ),
    group(
      'Sign-in and step-up',
      boxes('Need an authenticator app to sign in', ROLES, p.mfa_required_roles, (r) => ROLE_WORDS[r], (l) => set({ mfa_required_roles: l })),
      num('pol-stepup', 'Control and files need a second factor from the last (minutes)', 'Step-up: older than this, the analyst confirms again first', p.step_up_minutes, (n) => set({ step_up_minutes: n })),
      boxes('Step-up must be a passkey for', ROLES, p.passkey_required_roles, (r) => ROLE_WORDS[r], (l) => set({ passkey_required_roles: l })),
    ),
    group(
      'Recording',
      modes('pol-rec-control', 'Recording of sessions with control', p.recordings.with_control, (v) => rec({ with_control: v })),
      modes('pol-rec-view', 'Recording of sessions without control', p.recordings.view_only, (v) => rec({ view_only: v })),
      num('pol-rec-suspend', 'Control pauses when the recording stalls for (seconds)', 'Only where recording is always required', p.recordings.stall_suspend_seconds, (n) => rec({ stall_suspend_seconds: n })),
      num('pol-rec-end', 'The session ends when the recording stalls for (seconds)', 'Only where recording is always required; longer than the pause', p.recordings.stall_end_seconds, (n) => rec({ stall_end_seconds: n })),
      num('pol-rec-days', 'Recordings are kept for (days)', 'Older ones are deleted; their fingerprint stays in the audit log', p.recordings.retention_days, (n) => rec({ retention_days: n })),
      num('pol-rec-quota', 'Storage for recordings (megabytes)', 'Past this, the oldest recordings are deleted first', p.recordings.quota_mb, (n) => rec({ quota_mb: n })),
    ),
    h(WatcherPolicy, { p, set, num, boxes }),
    error ? h(Alert, { kind: 'error', testId: 'policy-error' }, error) : null,
    note ? h(Alert, { kind: 'info', testId: 'policy-note' }, note) : null,
    h(
      'div',
      { className: 'choice' },
      h('button', { type: 'submit', className: 'primary', disabled: busy || !dirty }, busy ? 'Saving…' : 'Save policy'),
      h('button', { type: 'button', disabled: busy || !dirty, onClick: () => setDraft(shown.policy) }, 'Undo my changes'),
    ),
  );
}
