import { z } from 'zod';
import { OrgPolicySchema } from '../policy.js';
import { MAX_NAME_CHARS } from './limits.js';
import { safeText as text } from './text.js';

/** What the console's admin screens need beyond the CLI's routes (broker/routes/admin-console.ts). */
export const UserOrganisationBody = z.object({ organisation: text(MAX_NAME_CHARS) }).strict();
export const UserOrganisationSchema = z.object({ username: z.string().max(64), organisation: z.string().max(256) });

export const DeliveryIdParams = z.object({ id: z.string().uuid() }).strict();
export const DeliveryRetriedSchema = z.object({ id: z.string().uuid(), status: z.literal('pending') });

/** The stored chain checked as `chaperone-broker audit verify` checks it. */
export const AuditVerifiedSchema = z.object({
  ok: z.boolean(),
  events: z.number().int().nonnegative(),
  first_bad: z.object({ seq: z.number().int(), id: z.string().max(256).nullable(), problem: z.string().max(2000) }).nullable(),
  warnings: z.array(z.string().max(2000)).max(100),
});

/**
 * The policy this broker runs with (broker.json's, or the one an admin last saved in the console),
 * and its version: a save names the version it was made from.
 */
export const AdminPolicySchema = z.object({ policy: OrgPolicySchema, version: z.number().int().nonnegative() });
/** The whole policy, checked by the same schema as broker.json's `policy`. */
export const PolicyUpdateBody = z.object({ policy: z.unknown(), version: z.number().int().nonnegative() }).strict();
export const PolicyChangedSchema = z.object({ policy: OrgPolicySchema, version: z.number().int().nonnegative(), changed: z.array(z.string().max(64)).max(64) });
