import type { Role } from '../../common/roles.js';
import { ROLES } from '../../common/roles.js';
import { MAX_NAME_CHARS } from '../../common/protocol/limits.js';
import { isSafeText } from '../../common/protocol/text.js';
import type { OidcConfig } from '../../common/oidc-config.js';

/** A claim's values as strings: a group list, a single string, or nothing. */
function claimValues(claims: Record<string, unknown>, name: string): string[] {
  const v = claims[name];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return [];
}

/** The roles the rules give for these claims: all of them, nothing else (what the account had before does not count). */
export function rolesFromClaims(cfg: OidcConfig, claims: Record<string, unknown>): Role[] {
  const out = new Set<Role>();
  for (const rule of cfg.claims_to_roles) {
    const name = rule.claim === 'groups' ? cfg.groups_claim : rule.claim;
    if (claimValues(claims, name).includes(rule.value)) for (const r of rule.roles) out.add(r);
  }
  return ROLES.filter((r) => out.has(r));
}

export function organisationFromClaims(cfg: OidcConfig, claims: Record<string, unknown>): string {
  for (const rule of cfg.claims_to_organisation) {
    const name = rule.claim === 'groups' ? cfg.groups_claim : rule.claim;
    if (claimValues(claims, name).includes(rule.value)) return rule.organisation;
  }
  return cfg.organisation;
}

/** A username the broker accepts, from the configured claim (an e-mail address gives its local part). */
export function usernameFromClaims(cfg: OidcConfig, claims: Record<string, unknown>): string | null {
  const raw = claimValues(claims, cfg.username_claim)[0] ?? claimValues(claims, 'email')[0];
  if (!raw) return null;
  const local = (raw.includes('@') ? raw.slice(0, raw.indexOf('@')) : raw).toLowerCase();
  const cleaned = local.replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 63);
  return /^[a-z0-9][a-z0-9._-]{1,62}$/.test(cleaned) ? cleaned : null;
}

/** The name the consent screen shows: the provider's `name`, when it is safe text. */
export function displayNameFromClaims(claims: Record<string, unknown>, fallback: string): string {
  const name = typeof claims.name === 'string' ? claims.name.trim().slice(0, MAX_NAME_CHARS) : '';
  return name && isSafeText(name) ? name : fallback;
}

/** `amr` as the ID token gave it: short method names only (RFC 8176 style). */
export function amrFromClaims(claims: Record<string, unknown>): string[] {
  return claimValues(claims, 'amr')
    .filter((m) => /^[A-Za-z0-9_.:-]{1,32}$/.test(m))
    .slice(0, 8);
}

export function acrFromClaims(claims: Record<string, unknown>): string | null {
  return typeof claims.acr === 'string' && /^[\x21-\x7e]{1,256}$/.test(claims.acr) ? claims.acr : null;
}
