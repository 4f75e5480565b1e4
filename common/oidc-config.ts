import { z } from 'zod';
import { ANALYST_KINDS, ROLES } from './roles.js';
import { MAX_NAME_CHARS } from './protocol/limits.js';
import { isSafeText } from './protocol/text.js';

/** An issuer the broker will talk to: https://, or http:// on this machine (a test or a local provider). */
export function isIssuerUrl(s: string): boolean {
  try {
    const u = new URL(s);
    if (u.search || u.hash) return false;
    if (u.protocol === 'https:') return true;
    const host = u.hostname.replace(/^\[|\]$/g, '');
    return u.protocol === 'http:' && (host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host));
  } catch {
    return false;
  }
}

const claimName = z.string().min(1).max(100).regex(/^[A-Za-z0-9_.:/-]+$/, 'a claim name: letters, digits, _ . : / -');
const claimValue = z.string().min(1).max(256);

/**
 * `oidc` in broker.json: single sign-on for staff. Like Teleport's `claims_to_roles`, each rule
 * says: when the ID token's claim holds this value, the account has these roles. An account's
 * roles are exactly what the rules give at its latest sign-in, so leaving a group at the identity
 * provider takes the role away at the next one.
 */
export const OidcFileSchema = z
  .object({
    issuer: z.string().max(300).refine(isIssuerUrl, 'the issuer URL: https:// (http:// only on this machine), no query or fragment'),
    client_id: z.string().min(1).max(256),
    /** Or CHAPERONE_OIDC_CLIENT_SECRET, which wins (keep secrets out of files that get copied). */
    client_secret: z.string().min(1).max(512).optional(),
    /** The claim that carries the groups (`groups` for Okta and Keycloak, Entra ID's group object ids, Google's needs a mapper). */
    groups_claim: claimName.default('groups'),
    claims_to_roles: z
      .array(z.object({ claim: claimName, value: claimValue, roles: z.array(z.enum(ROLES)).min(1).max(ROLES.length) }).strict())
      .min(1)
      .max(64),
    /** What the consent screen names as the analyst's organisation; the first matching rule wins. */
    organisation: z.string().min(1).max(MAX_NAME_CHARS).refine(isSafeText, 'safe text'),
    claims_to_organisation: z
      .array(z.object({ claim: claimName, value: claimValue, organisation: z.string().min(1).max(MAX_NAME_CHARS).refine(isSafeText, 'safe text') }).strict())
      .max(64)
      .default([]),
    kind: z.enum(ANALYST_KINDS).default('internal'),
    /** Which claim names the account (lower-cased, cut to what a username may hold). */
    username_claim: claimName.default('preferred_username'),
    scopes: z.array(z.string().min(1).max(64).regex(/^[\x21-\x7e]+$/)).min(1).max(16).default(['openid', 'profile', 'email']),
    /** The acr a step-up must come back with (for example a phishing-resistant MFA class); none: any. */
    step_up_acr: z.string().min(1).max(256).optional(),
    /**
     * Origins the browser host and the console may be sent back to after the provider's pages
     * (the broker's own public URL always may).
     */
    return_origins: z
      .array(z.string().max(200).regex(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, 'an origin: scheme://host[:port], no path'))
      .max(16)
      .default([]),
  })
  .strict();
export type OidcFile = z.infer<typeof OidcFileSchema>;

export interface OidcConfig extends Omit<OidcFile, 'client_secret'> {
  client_secret: string;
}

export function oidcConfigFrom(f: OidcFile | undefined, env: NodeJS.ProcessEnv): OidcConfig | undefined {
  if (!f) return undefined;
  const secret = env.CHAPERONE_OIDC_CLIENT_SECRET ?? f.client_secret;
  if (!secret) throw new Error('oidc: a client secret is needed: set CHAPERONE_OIDC_CLIENT_SECRET or oidc.client_secret');
  return { ...f, client_secret: secret };
}
