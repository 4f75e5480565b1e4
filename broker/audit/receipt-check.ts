import crypto from 'node:crypto';
import type { AuditMeta } from '../../common/audit-chain.js';
import { TEARDOWN_RECEIPT_TYP } from '../../common/protocol/signaling.js';

const CONSENT_RECEIPT_TYP = 'chaperone-consent+jwt';

/** A compact JWS taken apart (not yet checked). */
export interface Decoded {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  input: string;
  sig: Buffer;
}

export function decode(jws: string): Decoded | null {
  const parts = jws.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (!header || typeof header !== 'object' || !payload || typeof payload !== 'object') return null;
    return { header, payload, input: `${parts[0]}.${parts[1]}`, sig: Buffer.from(parts[2]!, 'base64url') };
  } catch {
    return null;
  }
}

/** The Ed25519 key `x` a statement names in its header, if it is signed by it, of that type. */
export function signedByEmbeddedKey(d: Decoded, typ: string): string | null {
  const jwk = d.header.jwk as { kty?: unknown; crv?: unknown; x?: unknown } | undefined;
  if (d.header.alg !== 'EdDSA' || d.header.typ !== typ || !jwk || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') return null;
  try {
    const key = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
    return d.sig.length === 64 && crypto.verify(null, Buffer.from(d.input), key, d.sig) ? jwk.x : null;
  } catch {
    return null;
  }
}

/**
 * The end user's teardown reports are statements signed by the device key of the session's end
 * user, which the chain names through the consent receipt (kept in `session.active`, or in
 * `session.ended` for a decline). This checks each report's receipt against that key and against
 * what the event records, so a broker cannot write a report the end user's device did not sign.
 * Fed the events in order; `partial` for an export that may begin after a session's consent.
 */
export class TeardownReceiptCheck {
  private readonly devices = new Map<string, string>();
  /** Reports without a receipt: written before reports were signed. */
  unsigned = 0;
  /** Reports of sessions whose consent is not in a partial export: not checkable here. */
  unchecked = 0;

  constructor(private readonly partial = false) {}

  /** Null when the event is fine (or says nothing about receipts), else the problem. */
  observe(type: string, sessionId: string | null, meta: () => AuditMeta): string | null {
    if (!sessionId) return null;
    if (type === 'session.active' || type === 'session.ended') {
      const r = meta().receipt;
      const d = typeof r === 'string' ? decode(r) : null;
      const x = d ? signedByEmbeddedKey(d, CONSENT_RECEIPT_TYP) : null;
      if (x) this.devices.set(sessionId, x);
      return null;
    }
    if (type !== 'client.teardown_report') return null;
    const m = meta();
    if (typeof m.receipt !== 'string') {
      this.unsigned++;
      return null;
    }
    const device = this.devices.get(sessionId);
    if (!device) {
      if (this.partial) {
        this.unchecked++;
        return null;
      }
      return 'a teardown report of a session whose consent receipt (the device key) is not in the chain';
    }
    const d = decode(m.receipt);
    const x = d ? signedByEmbeddedKey(d, TEARDOWN_RECEIPT_TYP) : null;
    if (!d || x === null) return 'a teardown report whose receipt is not a signed teardown statement';
    if (x !== device) return "a teardown report not signed by the session's end-user device key";
    const revoked = Array.isArray(d.payload.revoked) ? (d.payload.revoked as unknown[]).join(',') : null;
    const recorded = Array.isArray(m.revoked) ? m.revoked.join(',') : null;
    if (d.payload.sid !== sessionId || revoked === null || revoked !== recorded || d.payload.after_crash !== m.after_crash) {
      return 'a teardown report that records something other than its signed receipt';
    }
    return null;
  }

  warnings(): string[] {
    const w: string[] = [];
    if (this.unsigned > 0) w.push(`${this.unsigned} teardown report(s) carry no device signature (written before reports were signed)`);
    if (this.unchecked > 0) w.push(`${this.unchecked} teardown report(s) belong to sessions whose consent is before this export: their receipts were not checked`);
    return w;
  }
}
