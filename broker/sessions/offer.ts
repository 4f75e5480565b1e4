import { CONSENT_CAPABILITIES, isGrantable, type Capability } from '../../common/capabilities.js';
import type { Row, SessionCore } from './core.js';
import { sessionRecordingMode } from './recording.js';
import { watchTermsFor, type WatchTerms } from '../../common/watch.js';
import type { AnalystKind } from '../../common/roles.js';
import { brandingView } from '../branding.js';
import type { Selectable } from 'kysely';
import { prepared } from '../storage/prepared.js';
import type { AccountsTable } from '../storage/schema.js';

// Every redemption reads the analyst (compiled once, storage/prepared.ts).
const analystOf = prepared<{ id: string }, Selectable<AccountsTable>>((db, p) => db.selectFrom('accounts').selectAll().where('id', '=', p('id')));

/**
 * The consent offer: what the end user's consent screen shows, signed by the broker and bound to
 * the device that redeemed the code. The end user's client shows nothing it did not verify.
 */
export async function signOffer(core: SessionCore, r: Row, deviceJkt: string, expiresAt: number): Promise<{ offer: string; watchers: WatchTerms }> {
  const analyst = await analystOf.first(core.db, { id: r.analyst_id });
  if (!analyst) throw new Error(`the analyst of session ${r.id} is not an account`);
  // Whether anyone may watch is part of what the end user consents to; the session keeps these terms.
  const watchers = watchTermsFor(core.cfg.policy, analyst.kind as AnalystKind, r.ticket_ref);
  const caps = r.capabilities.split(',') as Capability[];
  const { token } = await core.tokens.sign(
    'offer',
    {
      sid: r.id,
      sub: deviceJkt,
      org: core.cfg.policy.organisation,
      // Signed with the rest, so the consent screen's name, help line and logo cannot be swapped.
      branding: brandingView(core.cfg),
      analyst: { id: analyst.id, name: analyst.display_name, username: analyst.username, organisation: analyst.organisation, kind: analyst.kind },
      verification: verificationOf(analyst),
      ticket: r.ticket_ref,
      reason: r.reason,
      capabilities: caps,
      consent_covers: caps.filter((c) => CONSENT_CAPABILITIES.includes(c)),
      granted_later: caps.filter((c) => isGrantable(c)),
      duration_s: r.duration_s,
      recording: sessionRecordingMode(core, r),
      watchers,
      // Whether a clipboard grant may carry pictures too: the consent screen says so before the end user agrees.
      clipboard_images: core.cfg.policy.clipboard_images,
      cnf: { jkt: deviceJkt },
    },
    expiresAt,
  );
  return { offer: token, watchers };
}

/**
 * How the analyst's identity was established. For a single sign-on account the organisation's
 * identity provider vouched for it: its issuer, and from its latest ID token when and how the
 * person authenticated (`auth_time`, `amr`, `acr`), so the consent screen can say so.
 */
function verificationOf(a: { totp_secret: string | null; mfa_at: number; sso_issuer: string | null; mfa_amr: string; mfa_acr: string | null }) {
  const mfaAt = a.mfa_at ? Math.floor(a.mfa_at / 1000) : null;
  if (a.sso_issuer !== null) return { method: 'sso' as const, issuer: a.sso_issuer, mfa_at: mfaAt, amr: a.mfa_amr.split(',').filter(Boolean), acr: a.mfa_acr };
  return { method: a.totp_secret ? ('password+totp' as const) : ('password' as const), mfa_at: mfaAt };
}
