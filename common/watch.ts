import { z } from 'zod';
import { ANALYST_KINDS, type AnalystKind } from './roles.js';

/**
 * Monitored sessions (issue 12): who may watch a live session, and when policy requires a
 * watcher before control. Pure rules shared by the broker (it decides), the offer (the end user
 * is told) and the console (it explains). docs/api.md "Watching a session".
 */

/** Account roles that may watch a live session; admins have every power a supervisor has. */
export const WATCHER_ROLES = ['supervisor', 'admin'] as const;
export type WatcherRole = (typeof WATCHER_ROLES)[number];

/** What happens when a required watcher leaves and too few are left. */
export const ON_LEAVE = ['suspend', 'end'] as const;
export type OnLeave = (typeof ON_LEAVE)[number];

const ticketPrefix = z.string().min(1).max(64).regex(/^[A-Za-z0-9._:#/-]+$/, 'letters, digits and . _ : # / - only');

export const RequireWatcherSchema = z
  .object({
    /** How many watchers (who count: below) must be present before control may be asked for. */
    count: z.number().int().min(1).max(5).default(1),
    /** Which roles' watchers count. */
    roles: z.array(z.enum(WATCHER_ROLES)).min(1).max(WATCHER_ROLES.length).default(['supervisor', 'admin']),
    /** Too few left: control is suspended at once; with `end`, the session ends after grace_s unless enough come back. */
    on_leave: z.enum(ON_LEAVE).default('suspend'),
    grace_s: z.number().int().min(0).max(3600).default(60),
    /**
     * Which sessions: those whose analyst is of one of these kinds, or whose ticket starts with
     * one of these prefixes. Both empty: every session.
     */
    for: z
      .object({
        analyst_kinds: z.array(z.enum(ANALYST_KINDS)).max(ANALYST_KINDS.length).default([]),
        ticket_prefixes: z.array(ticketPrefix).max(50).default([]),
      })
      .strict()
      .default({ analyst_kinds: [], ticket_prefixes: [] }),
  })
  .strict();
export type RequireWatcher = z.infer<typeof RequireWatcherSchema>;

/**
 * What a session was offered with about watchers: the `watchers` claim of the signed offer, kept
 * with the session from then on (a policy saved later does not change it).
 */
export const WatchTermsSchema = z
  .object({
    allowed: z.boolean(),
    required: z
      .object({
        count: z.number().int().min(1).max(5),
        roles: z.array(z.enum(WATCHER_ROLES)).min(1).max(WATCHER_ROLES.length),
        on_leave: z.enum(ON_LEAVE),
        grace_s: z.number().int().min(0).max(3600),
      })
      .strict()
      .nullable(),
  })
  .strict();
export type WatchTerms = z.infer<typeof WatchTermsSchema>;

/** The terms policy gives a session of this analyst kind and ticket. */
export function watchTermsFor(policy: { watchers_allowed: boolean; require_watcher: RequireWatcher | null }, kind: AnalystKind, ticket: string): WatchTerms {
  if (!policy.watchers_allowed) return { allowed: false, required: null };
  const rw = policy.require_watcher;
  if (!rw) return { allowed: true, required: null };
  const { analyst_kinds: kinds, ticket_prefixes: prefixes } = rw.for;
  const applies = (kinds.length === 0 && prefixes.length === 0) || kinds.includes(kind) || prefixes.some((p) => ticket.startsWith(p));
  return { allowed: true, required: applies ? { count: rw.count, roles: rw.roles, on_leave: rw.on_leave, grace_s: rw.grace_s } : null };
}

/** One sentence for the end user's consent screen. */
export function watchSentence(t: WatchTerms): string {
  if (!t.allowed) return 'Nobody else can watch this session.';
  if (t.required) return 'A supervisor from the organisation must watch this session before the support person may control your computer. You will see the name of everyone watching.';
  return 'A supervisor from the organisation may watch this session. You will see the name of everyone watching, the moment they join.';
}
