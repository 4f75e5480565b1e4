import { LOCAL_GRANTS, TEARDOWN_RECEIPT_TYP } from '../../common/protocol/signaling.js';
import { verifyEmbeddedKeyJws } from '../auth/dpop.js';
import { badRequest, conflict, forbidden, type DomainError } from '../domain-errors.js';
import type { SessionCore } from './core.js';
import { readRow } from './queries.js';
import { endUserActor } from './types.js';
import { prepared } from '../storage/prepared.js';

// One report per session and kind: a second one inserts nothing (compiled once, storage/prepared.ts).
const insertReport = prepared<{ sid: string; afterCrash: number; now: number }, never>((db, p) =>
  db.insertInto('teardown_reports').values({ session_id: p('sid'), after_crash: p('afterCrash'), received_at: p('now') }).onConflict((oc) => oc.columns(['session_id', 'after_crash']).doNothing()),
);

/** How long after its end a session still takes its end user's teardown report. */
export const TEARDOWN_WINDOW_MS = 10 * 60_000;
/** How far a receipt's `iat` may be from the broker's clock. */
const RECEIPT_SKEW_S = 300;

export interface TeardownReport {
  /** What the frame or body says was revoked: must be what the receipt says. */
  revoked: readonly string[];
  receipt: string;
  /** Said by the HTTP body; on signaling only the receipt says it. */
  after_crash?: boolean;
}

interface ReceiptClaims {
  revoked: string[];
  after_crash: boolean;
}

/**
 * The end user's client says which local grants it dropped, in a statement signed by the device
 * key that redeemed the code, on signaling or over HTTP (also after a crash). Taken while the
 * session is active and for 10 minutes after its end, once per session and kind (after a crash or
 * not), and kept in the audit chain with its receipt, which `audit verify` checks against the
 * device key of the consent receipt.
 */
export async function recordTeardownReport(core: SessionCore, sessionId: string, report: TeardownReport, device: { jkt: string }, source: string | null): Promise<void> {
  const row = await readRow(core, sessionId);
  const actor = endUserActor(device.jkt, source);
  const refuse = async (why: string, err: DomainError): Promise<never> => {
    await core.audit.refused({ type: 'client.teardown_report_refused', outcome: 'denied', ...actor, session_id: row.id, ticket: row.ticket_ref, meta: { why } });
    throw err;
  };
  if (row.end_user_jkt !== device.jkt) return refuse('not the end user of this session', forbidden('this device is not the end user of that session'));
  const now = core.clock.now();
  if (row.state !== 'active' && row.state !== 'ended') return refuse('the session has not started', conflict('the session has not started', 'not_started'));
  if (row.state === 'ended' && (row.ended_at ?? 0) + TEARDOWN_WINDOW_MS < now) {
    return refuse('more than 10 minutes after the end', conflict('the session ended more than 10 minutes ago', 'report_window_closed'));
  }
  const claims = checkTeardownReceipt(report.receipt, device.jkt, row.id, now);
  if (typeof claims === 'string') return refuse(claims, badRequest(`teardown receipt rejected: ${claims}`, 'bad_receipt'));
  if ([...report.revoked].sort().join(',') !== claims.revoked.join(',')) {
    return refuse('the report lists other grants than its receipt', badRequest('teardown receipt rejected: it lists other grants than the report', 'bad_receipt'));
  }
  if (report.after_crash !== undefined && report.after_crash !== claims.after_crash) {
    return refuse('after_crash differs from the receipt', badRequest('teardown receipt rejected: after_crash differs from the report', 'bad_receipt'));
  }
  const ins = await insertReport.run(core.db, { sid: row.id, afterCrash: claims.after_crash ? 1 : 0, now });
  if (Number(ins.numAffectedRows ?? 0) !== 1) return refuse('already reported', conflict('this session already has that teardown report', 'already_reported'));
  await core.audit.append({
    type: 'client.teardown_report',
    outcome: 'success',
    ...actor,
    session_id: row.id,
    ticket: row.ticket_ref,
    meta: { revoked: claims.revoked, after_crash: claims.after_crash, receipt: report.receipt },
  });
}

/** The receipt's claims, or why it is refused. */
function checkTeardownReceipt(receipt: string, jkt: string, sid: string, now: number): ReceiptClaims | string {
  let v;
  try {
    v = verifyEmbeddedKeyJws(receipt, TEARDOWN_RECEIPT_TYP);
  } catch {
    return 'not a JWS signed by the device key, or of another type';
  }
  if (v.jkt !== jkt) return 'signed by another key';
  const p = v.payload;
  if (p.sid !== sid) return 'made for another session';
  if (typeof p.iat !== 'number' || Math.abs(p.iat - now / 1000) > RECEIPT_SKEW_S) return 'stale';
  if (typeof p.jti !== 'string' || p.jti.length < 8 || p.jti.length > 128) return 'needs a unique jti';
  if (typeof p.after_crash !== 'boolean') return 'after_crash must be true or false';
  const r = p.revoked;
  const known = LOCAL_GRANTS as readonly string[];
  if (!Array.isArray(r) || r.length > known.length || !r.every((x) => typeof x === 'string' && known.includes(x))) return 'revoked must list local grants';
  const list = r as string[];
  if (list.join(',') !== [...new Set(list)].sort().join(',')) return 'revoked must be sorted, each grant once';
  return { revoked: list, after_crash: p.after_crash };
}
