/** `supervisor`: watches live sessions and moderates them (common/watch.ts); admins may do the same. */
export const ROLES = ['analyst', 'approver', 'admin', 'auditor', 'supervisor'] as const;
export type Role = (typeof ROLES)[number];

/** How the person asking for a session relates to the organisation; policy treats each differently. */
export const ANALYST_KINDS = ['internal', 'vendor', 'incident_responder'] as const;
export type AnalystKind = (typeof ANALYST_KINDS)[number];

export type SessionRole = 'analyst' | 'end_user';
