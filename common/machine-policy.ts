import { z } from 'zod';
import { CAPABILITIES } from './capabilities.js';
import { MAX_NAME_CHARS } from './protocol/limits.js';

/**
 * The machine policy: what an IT administrator sets for every user of one computer (a file or key
 * that only administrators can write; see main/machine-policy/ for where it is read and
 * docs/admin/policy.md for the reference). It is distinct from common/policy.ts, which is the
 * broker's organisation policy.
 *
 * Every field is snake_case so the same names work as JSON keys, registry value names and plist
 * keys. The object is strict: a misspelt field is an error, never silently ignored, because an
 * administrator who wrote `alowed_organisations` believes a restriction is in force.
 */

/** Larger files are refused unread: a policy is a few hundred bytes, and the parser must stay bounded. */
export const MAX_MACHINE_POLICY_BYTES = 64 * 1024;

export const MACHINE_POLICY_VERSION = 1;

/**
 * Fields that are booleans. Sources without a boolean type (the Windows registry's REG_DWORD)
 * convert 0/1 only for these, so a number elsewhere still fails the schema.
 */
export const MACHINE_POLICY_BOOLEAN_FIELDS = ['control_needs_click', 'banner_always_visible', 'analyst_mode', 'clipboard_images'] as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * https everywhere; plain http only to this machine, where nothing on the network can change it
 * (a broker on loopback during a pilot or a test). No credentials, query or fragment: the client
 * appends API paths to it.
 */
const brokerUrl = z
  .string()
  .max(2048)
  .superRefine((s, ctx) => {
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a URL (expected for example https://support.example.com)' });
      return;
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname))) {
      ctx.addIssue({ code: 'custom', message: 'must start with https:// (plain http:// is accepted only for 127.0.0.1, [::1] or localhost)' });
    }
    if (u.username || u.password || u.search || u.hash) ctx.addIssue({ code: 'custom', message: 'must not contain a user name, password, query or fragment' });
  })
  .transform((s) => s.replace(/\/+$/, ''));

/**
 * The broker's Ed25519 signing key, pinned as the `x` member of its public JWK (base64url of the
 * 32-byte key). The key itself rather than a thumbprint: the client then checks offers against
 * key material the administrator wrote, and needs nothing fetched from the network to be trusted;
 * kty and crv are fixed (the product pins EdDSA), so `x` is the whole JWK. A plain string also
 * fits a REG_MULTI_SZ value and a plist array unchanged. Several keys let an administrator stage
 * the broker's next key before rotating it.
 */
export const PinnedBrokerKeySchema = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be the 43-character base64url 'x' of the broker's Ed25519 JWK");

const onlyTrue = (field: string, what: string) =>
  z.literal(true, { error: `can only be true: ${what}; a policy may leave ${field} out, but cannot turn it off` }).optional();

export const MachinePolicySchema = z
  .object({
    version: z.literal(MACHINE_POLICY_VERSION, { error: `must be ${MACHINE_POLICY_VERSION}` }),
    /** The only broker this machine talks to; it overrides any broker address given elsewhere. */
    broker_url: brokerUrl,
    broker_public_keys: z
      .array(PinnedBrokerKeySchema)
      .min(1, 'needs at least one key')
      .max(4, 'holds at most 4 keys')
      .refine((a) => new Set(a).size === a.length, 'lists a key twice'),
    /** The consent floor: control is never taken without the end user's click. */
    control_needs_click: onlyTrue('control_needs_click', 'control always needs the end user’s click'),
    /** The consent floor: the session banner with its Stop button always shows. */
    banner_always_visible: onlyTrue('banner_always_visible', 'the session banner always shows'),
    /** Offers for longer sessions are refused; absent, the broker's own limit applies. */
    max_session_minutes: z.number().int('must be a whole number of minutes').min(1).max(24 * 60).optional(),
    /** The broker organisations (the offer's `org`) whose sessions this machine accepts; absent, any. */
    allowed_organisations: z
      .array(z.string().trim().min(1).max(MAX_NAME_CHARS))
      .min(1, 'needs at least one organisation (leave the field out to allow any)')
      .max(50)
      .optional(),
    /** Whether this machine offers the analyst screens at all; a managed end-user fleet says false. */
    analyst_mode: z.boolean().optional(),
    /** Capabilities no session on this machine may include; an offer asking for one is refused. */
    denied_capabilities: z.array(z.enum(CAPABILITIES)).max(CAPABILITIES.length).optional(),
    /** Seconds a control request may wait for the end user's answer before it is denied. */
    control_prompt_seconds: z.number().int().min(5).max(300).optional(),
    /**
     * false: the clipboard carries text only on this machine, whatever the organisation's policy
     * allows. It can only take away: true would not let pictures through where the broker's policy
     * does not, so it is not accepted (an administrator who wrote it believes something that is not so).
     */
    clipboard_images: z.literal(false, { error: 'can only be false: a machine policy can keep the clipboard to text, but cannot allow pictures the organisation’s policy does not' }).optional(),
  })
  .strict();

export type MachinePolicyInput = z.input<typeof MachinePolicySchema>;

/** A parsed policy with the defaults of a managed install filled in. */
export interface MachinePolicy {
  version: typeof MACHINE_POLICY_VERSION;
  brokerUrl: string;
  brokerPublicKeys: string[];
  controlNeedsClick: true;
  bannerAlwaysVisible: true;
  maxSessionSeconds: number | null;
  /** Null: any organisation. */
  allowedOrganisations: string[] | null;
  analystMode: boolean;
  deniedCapabilities: (typeof CAPABILITIES)[number][];
  controlPromptSeconds: number | null;
  /** True: pictures never go through the clipboard on this machine. */
  clipboardImagesDenied: boolean;
}

export type MachinePolicyParse = { ok: true; policy: MachinePolicy } | { ok: false; problem: string };

/** Validates an already-decoded policy (JSON, registry values or a plist turned into an object). */
export function parseMachinePolicy(raw: unknown): MachinePolicyParse {
  const r = MachinePolicySchema.safeParse(raw);
  if (!r.success) return { ok: false, problem: describeIssues(r.error.issues) };
  const p = r.data;
  return {
    ok: true,
    policy: {
      version: p.version,
      brokerUrl: p.broker_url,
      brokerPublicKeys: p.broker_public_keys,
      controlNeedsClick: true,
      bannerAlwaysVisible: true,
      maxSessionSeconds: p.max_session_minutes === undefined ? null : p.max_session_minutes * 60,
      allowedOrganisations: p.allowed_organisations ?? null,
      // A managed machine is an end user's unless the administrator says otherwise.
      analystMode: p.analyst_mode ?? false,
      deniedCapabilities: p.denied_capabilities ?? [],
      controlPromptSeconds: p.control_prompt_seconds ?? null,
      clipboardImagesDenied: p.clipboard_images === false,
    },
  };
}

/** Decodes and validates the text of a policy.json; syntax errors name the line and column. */
export function parseMachinePolicyJson(text: string): MachinePolicyParse {
  if (text.length > MAX_MACHINE_POLICY_BYTES) return { ok: false, problem: `the file is larger than ${MAX_MACHINE_POLICY_BYTES / 1024} KiB` };
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    return { ok: false, problem: `it is not valid JSON (${jsonErrorWhere(text, (err as Error).message)})` };
  }
  return parseMachinePolicy(raw);
}

/** The sentence a helpdesk can act on: where the policy is, what is wrong, and what it means. */
export function invalidPolicyMessage(source: string, problem: string): string {
  return `The machine policy at ${source} could not be read: ${problem}. Chaperone will not start sessions until an administrator fixes it.`;
}

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.slice(0, 3).map((i) => {
    if (i.code === 'unrecognized_keys') return `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${fieldPath([...i.path, k])}"`).join(', ')}`;
    const where = i.path.length ? `field "${fieldPath(i.path)}"` : 'the policy';
    if (i.code === 'invalid_type' && i.message.startsWith('Invalid input')) {
      const received = /received (\w+)/.exec(i.message)?.[1];
      return received === 'undefined' ? `${where} is missing` : `${where} must be ${typeName(i.expected)}${received ? `, not ${typeName(received)}` : ''}`;
    }
    return `${where} ${i.message}`;
  });
  if (issues.length > 3) parts.push(`and ${issues.length - 3} more problem${issues.length > 4 ? 's' : ''}`);
  return parts.join('; ');
}

function typeName(t: string): string {
  if (t === 'array') return 'a list';
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}

function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, n) => (typeof p === 'number' ? `[${p}]` : `${n ? '.' : ''}${String(p)}`)).join('');
}

function jsonErrorWhere(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m) return message;
  const pos = Number(m[1]);
  const before = text.slice(0, pos).split('\n');
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}: ${message.replace(/ in JSON at position \d+.*$/, '')}`;
}
