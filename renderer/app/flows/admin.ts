import type { z } from 'zod';
import { AdminPolicySchema, AuditVerifiedSchema, DeliveryRetriedSchema, PolicyChangedSchema, UserOrganisationSchema } from '../../../common/protocol/admin-console.js';
import { AuditEventsSchema, CreatedAccountSchema, HookDeliveriesSchema, KeyRotatedSchema, PasswordResetSchema, UserDisabledSchema, UserListSchema, UserRolesSchema } from '../../../common/protocol/responses.js';
import type { AnalystKind, Role } from '../../../common/roles.js';
import { BrokerError } from '../broker-client.js';
import { staffBroker } from '../services.js';

/**
 * The console's admin screens: the same routes the CLI's admin API uses, each change made as the
 * signed-in admin (the broker audits it with their name). Screens keep what they show locally.
 */

export type UserRow = z.infer<typeof UserListSchema>['users'][number];
export type AuditRow = z.infer<typeof AuditEventsSchema>['events'][number];
export type DeliveryRow = z.infer<typeof HookDeliveriesSchema>['deliveries'][number];
export type AuditVerified = z.infer<typeof AuditVerifiedSchema>;

/** A sentence for the screen from whatever went wrong. */
export function problem(err: unknown): string {
  const m = err instanceof BrokerError ? err.message : (err as Error).message;
  return m.charAt(0).toUpperCase() + m.slice(1);
}

const u = (username: string) => `/api/v1/admin/users/${encodeURIComponent(username)}`;

export async function listUsers(): Promise<UserRow[]> {
  return (await staffBroker().get('/api/v1/admin/users', UserListSchema)).users;
}

export function addUser(n: { username: string; display_name: string; organisation: string; kind: AnalystKind; roles: Role[] }) {
  return staffBroker().post('/api/v1/admin/users', n, CreatedAccountSchema);
}

export function disableUser(username: string) {
  return staffBroker().post(`${u(username)}/disable`, {}, UserDisabledSchema);
}

export function resetOneTimePassword(username: string) {
  return staffBroker().post(`${u(username)}/reset-password`, {}, PasswordResetSchema);
}

export function setRoles(username: string, roles: Role[]) {
  return staffBroker().post(`${u(username)}/roles`, { roles }, UserRolesSchema);
}

export function setOrganisation(username: string, organisation: string) {
  return staffBroker().post(`${u(username)}/organisation`, { organisation }, UserOrganisationSchema);
}

/** The newest events (the route reads forward from a sequence number; the console shows the last page). */
export async function latestAudit(max = 300): Promise<AuditRow[]> {
  const all: AuditRow[] = [];
  let after = 0;
  for (let page = 0; page < 50; page++) {
    const r = await staffBroker().get(`/api/v1/audit/events?after_seq=${after}&limit=1000`, AuditEventsSchema);
    all.push(...r.events);
    if (all.length > max) all.splice(0, all.length - max);
    if (r.events.length < 1000) break;
    after = r.events.at(-1)!.seq;
  }
  return all.reverse();
}

export function verifyAudit() {
  return staffBroker().post('/api/v1/audit/verify', {}, AuditVerifiedSchema);
}

export async function deliveries(status: 'pending' | 'delivered' | 'failed' | ''): Promise<DeliveryRow[]> {
  return (await staffBroker().get(`/api/v1/admin/hook-deliveries?limit=200${status ? `&status=${status}` : ''}`, HookDeliveriesSchema)).deliveries;
}

/** One more attempt at a failed delivery, now (audited with the admin's name). */
export function retryDelivery(id: string) {
  return staffBroker().post(`/api/v1/admin/hook-deliveries/${encodeURIComponent(id)}/retry`, {}, DeliveryRetriedSchema);
}

export function rotateKey() {
  return staffBroker().post('/api/v1/admin/keys/rotate', {}, KeyRotatedSchema);
}

export type PolicyView = z.infer<typeof AdminPolicySchema>['policy'];

export function policy(): Promise<{ policy: PolicyView; version: number }> {
  return staffBroker().get('/api/v1/admin/policy', AdminPolicySchema);
}

/** The whole policy, made from the version the screen showed; the broker checks it with broker.json's schema. */
export function savePolicy(p: PolicyView, version: number) {
  return staffBroker().post('/api/v1/admin/policy', { policy: p, version }, PolicyChangedSchema);
}
