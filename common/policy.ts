import { z } from 'zod';
import { CAPABILITIES, GRANTABLE_CAPABILITIES, type Capability } from './capabilities.js';
import { safeText } from './protocol/text.js';
import { DEFAULT_RECORDING_POLICY, RecordingPolicySchema } from './recording.js';
import { ANALYST_KINDS, ROLES, type AnalystKind } from './roles.js';
import { RequireWatcherSchema } from './watch.js';

/** The organisation's rules. Every field has a safe default, so an empty file is a strict policy. */
export const OrgPolicySchema = z
  .object({
    /** Shown in every consent offer: safe text only (common/protocol/text.ts). */
    organisation: safeText(120).default('Chaperone'),
    max_duration_minutes: z.number().int().min(1).max(24 * 60).default(60),
    hard_max_minutes: z.number().int().min(1).max(24 * 60).default(240),
    approval_window_minutes: z.number().int().min(1).max(24 * 60).default(15),
    code_ttl_minutes: z.number().int().min(1).max(60).default(10),
    offer_ttl_seconds: z.number().int().min(30).max(3600).default(300),
    require_open_ticket: z.boolean().default(false),
    auto_approve: z
      .object({
        capabilities: z.array(z.enum(CAPABILITIES)).max(5).default(['view', 'chat']),
        analyst_kinds: z.array(z.enum(ANALYST_KINDS)).max(3).default(['internal']),
      })
      .strict()
      .default({ capabilities: ['view', 'chat'], analyst_kinds: ['internal'] }),
    mfa_required_roles: z.array(z.enum(ROLES)).max(ROLES.length).default(['analyst', 'approver', 'admin', 'supervisor']),
    /**
     * Roles whose step-up (before control and files) must be a passkey: an authenticator code is
     * not accepted from them there. They sign in with a code until they have added a passkey.
     */
    passkey_required_roles: z.array(z.enum(ROLES)).max(ROLES.length).default([]),
    /** How long an end-user client may stay silent on signaling before the session ends as peer_lost. */
    heartbeat_timeout_seconds: z.number().int().min(5).max(300).default(15),
    /**
     * How long the end user has to answer a request for control, clipboard or files; the broker
     * answers it as refused (`timeout`) 2 s after that, so neither side waits on it any longer.
     */
    control_prompt_seconds: z.number().int().min(5).max(300).default(30),
    /** Control and files need a second factor at most this old when asked for (common/step-up.ts). */
    step_up_minutes: z.number().int().min(1).max(24 * 60).default(10),
    /** Whether sessions are recorded (off, best_effort, required), the stall limits, retention (common/recording.ts). */
    recordings: RecordingPolicySchema.default(DEFAULT_RECORDING_POLICY),
    /**
     * Capabilities no session of the organisation may include: a request asking for one is refused,
     * and so is a grant request for one in a session approved before the policy changed.
     */
    denied_capabilities: z.array(z.enum(GRANTABLE_CAPABILITIES)).max(GRANTABLE_CAPABILITIES.length).default([]),
    /**
     * Whether supervisors (and admins) may watch live sessions. The signed offer says so, so the
     * end user consents to it knowingly (common/watch.ts).
     */
    watchers_allowed: z.boolean().default(true),
    /**
     * Whether pictures (PNG) may be copied through the clipboard as well as text, in sessions whose
     * clipboard grant allows it. Off: text only. The signed offer says so (`clipboard_images`), so
     * the end user knows before agreeing, and the session keeps what it was offered with.
     */
    clipboard_images: z.boolean().default(false),
    /** Four eyes: sessions that need a watcher present before control, and what a leave does (common/watch.ts). */
    require_watcher: RequireWatcherSchema.nullable().default(null),
  })
  .strict()
  .refine((p) => p.watchers_allowed || p.require_watcher === null, { message: 'require_watcher needs watchers_allowed' })
  .refine((p) => p.max_duration_minutes <= p.hard_max_minutes, {
    message: 'max_duration_minutes must not exceed hard_max_minutes',
  });
export type OrgPolicy = z.infer<typeof OrgPolicySchema>;

export const DEFAULT_POLICY: OrgPolicy = OrgPolicySchema.parse({});

/** The reasons read as sentences by the analyst and the approver (and stay so in the audit). */
const KIND_WORDS: Record<AnalystKind, string> = { internal: 'internal analysts', vendor: 'outside vendors', incident_responder: 'incident responders' };
const CAPABILITY_WORDS: Record<Capability, string> = { view: 'seeing the screen', control: 'control of the mouse and keyboard', clipboard: 'clipboard access', files: 'file transfer', chat: 'chat' };

export type ApprovalDecision = { needed: false; why: string } | { needed: true; why: string };

/** Decides whether a request needs a human approver, and says why either way (it goes in the audit). */
export function approvalNeeded(
  policy: OrgPolicy,
  analystKind: AnalystKind,
  caps: readonly Capability[],
): ApprovalDecision {
  if (!policy.auto_approve.analyst_kinds.includes(analystKind)) {
    return { needed: true, why: `Requests by ${KIND_WORDS[analystKind]} always need an approver.` };
  }
  const beyond = caps.filter((c) => !policy.auto_approve.capabilities.includes(c));
  if (beyond.length > 0) {
    const names = beyond.map((c) => CAPABILITY_WORDS[c]);
    const list = names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
    return { needed: true, why: `${list[0]!.toUpperCase()}${list.slice(1)} ${beyond.length === 1 ? 'needs' : 'need'} an approver.` };
  }
  return { needed: false, why: 'approved by policy' };
}
