import { CONSENT_CAPABILITIES, type Capability } from '../../common/capabilities.js';
import { verifyEmbeddedKeyJws } from '../auth/dpop.js';
import { DomainError, badRequest } from '../domain-errors.js';
import type { Row, SessionCore } from './core.js';
import type { Actor } from './types.js';

export type ReceiptType = 'chaperone-consent+jwt' | 'chaperone-extension+jwt';

export type Decision = 'accept' | 'decline';

/**
 * Checks an end user's signed answer (to the offer, or to more time): signed by the device that
 * redeemed the code, of this type, for this session, fresh, with a decision, and, for consent,
 * answering the offer this device received. What the signature says is what counts: when the
 * caller acts on a decision given elsewhere (a frame's `accept`), `decision` names it and the
 * receipt must say the same. A refused receipt is audited. Returns the receipt's payload.
 */
export async function verifyReceipt(
  core: SessionCore,
  receipt: string,
  jkt: string,
  r: Row,
  actor: Actor,
  typ: ReceiptType,
  extra?: (p: Record<string, unknown>) => string | null,
  decision?: Decision,
): Promise<Record<string, unknown> & { decision: Decision }> {
  const bad = async (why: string): Promise<never> => {
    await core.audit.refused({ type: 'consent.receipt_rejected', outcome: 'denied', ...actor, session_id: r.id, ticket: r.ticket_ref, meta: { why } });
    throw badRequest(`consent receipt rejected: ${why}`, 'bad_receipt');
  };
  let payload: Record<string, unknown>;
  try {
    const v = verifyEmbeddedKeyJws(receipt, typ);
    if (v.jkt !== jkt) return bad('signed by another key');
    payload = v.payload;
  } catch (e) {
    if (e instanceof DomainError) throw e;
    return bad('not a JWS signed by the device key, or of another type');
  }
  if (payload.sid !== r.id) return bad('made for another session');
  if (typeof payload.iat !== 'number' || Math.abs(payload.iat - core.clock.now() / 1000) > 300) return bad('stale');
  if (payload.decision !== 'accept' && payload.decision !== 'decline') return bad('decision must be accept or decline');
  if (decision !== undefined && payload.decision !== decision) return bad(`the receipt says ${payload.decision}, the answer says ${decision}`);
  if (typ === 'chaperone-consent+jwt') {
    if (payload.offer_hash !== r.offer_hash) return bad('does not answer the offer this device received');
    // What the receipt says was accepted goes into the audit chain, so it must be exactly a list
    // of capabilities that consent can cover and that this session asked for: nothing else.
    const asked = r.capabilities.split(',');
    const acc = payload.accepted_capabilities;
    const valid =
      Array.isArray(acc) &&
      acc.length <= CONSENT_CAPABILITIES.length &&
      new Set(acc).size === acc.length &&
      acc.every((c) => typeof c === 'string' && CONSENT_CAPABILITIES.includes(c as Capability) && asked.includes(c));
    if (!valid) return bad('accepted_capabilities must list only capabilities consent covers for this session');
    if (payload.decision === 'accept' && !acc.includes('view')) return bad('accepting means accepting view');
    if (payload.decision === 'decline' && acc.length > 0) return bad('a decline accepts nothing');
  }
  const more = extra?.(payload);
  if (more) return bad(more);
  return payload as Record<string, unknown> & { decision: Decision };
}
