import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChainVerifier, GENESIS_HASH, canonicalJson, chainHash, checkpointMessage, eventBody, type AuditEvent, type AuditMeta, type StoredAuditEvent } from '../../common/audit-chain.js';

const sha = (t: string) => crypto.createHash('sha256').update(t).digest('hex');

function chain(n: number): AuditEvent[] {
  let prev = GENESIS_HASH;
  return Array.from({ length: n }, (_, i) => {
    const base = { seq: i + 1, id: `e${i}`, ts: 1000 + i, type: 'session.requested', outcome: 'success' as const, actor: 'account:alice', session_id: 's', ticket: 'INC-1', source: '127.0.0.1', meta: { n: i } };
    const hash = chainHash(sha, prev, eventBody(base));
    const e = { ...base, prev_hash: prev, hash };
    prev = hash;
    return e;
  });
}

describe('audit chain', () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const sign = (seq: number, hash: string) => {
    const c = { seq, hash, ts: 5 };
    return { ...c, kid: 'k', sig: crypto.sign(null, Buffer.from(checkpointMessage(c)), privateKey).toString('base64url') };
  };
  const verifySig = (_kid: string, msg: string, sig: string) => crypto.verify(null, Buffer.from(msg), publicKey, Buffer.from(sig, 'base64url'));

  it('the hand-written event body is exactly the canonical JSON of the event', () => {
    for (const e of chain(5)) {
      const { prev_hash: _p, hash: _h, ...fields } = e;
      expect(eventBody(fields)).toBe(canonicalJson(fields));
    }
    const odd = { seq: 1, id: 'x', ts: 2, type: 't"q', outcome: 'denied' as const, actor: 'a\\b', session_id: null, ticket: null, source: null, meta: { z: ['1', 'x'], a: null, m: true } };
    expect(eventBody(odd)).toBe(canonicalJson(odd));
  });

  it('canonical JSON sorts keys at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}');
  });

  function verify(events: AuditEvent[], cps = [sign(10, chain(10)[9]!.hash)]) {
    const v = new ChainVerifier(sha, new Set(cps.map((c) => c.seq)));
    for (const e of events) if (!v.push(e)) break;
    return v.finish(cps, verifySig);
  }

  it('an intact chain with a signed head verifies', () => {
    expect(verify(chain(10))).toMatchObject({ ok: true, events: 10 });
  });

  it('names the first bad event for a modified, deleted, reordered or truncated log', () => {
    const mod = chain(10);
    mod[3] = { ...mod[3]!, meta: { n: 99 } };
    expect(verify(mod)).toMatchObject({ ok: false, first_bad: { seq: 4 } });
    const del = chain(10).filter((e) => e.seq !== 6);
    expect(verify(del)).toMatchObject({ ok: false, first_bad: { seq: 6 } });
    const re = chain(10);
    [re[4], re[5]] = [re[5]!, re[4]!];
    expect(verify(re)).toMatchObject({ ok: false, first_bad: { seq: 5 } });
    expect(verify(chain(10).slice(0, 8))).toMatchObject({ ok: false, first_bad: { seq: 9 } });
  });

  it('stored events: canonical meta text verifies as stored; an older non-canonical text still verifies; a changed value does not', () => {
    const multi = (i: number): AuditMeta => ({ z: i, a: ['view', 'chat'], y: 'ü "q"', b: null });
    let prev = GENESIS_HASH;
    const events = Array.from({ length: 20 }, (_, i) => {
      const base = { seq: i + 1, id: `e${i}`, ts: 1000 + i, type: 't', outcome: 'success' as const, actor: 'a', session_id: null, ticket: null, source: null, meta: multi(i) };
      const hash = chainHash(sha, prev, eventBody(base));
      const e = { ...base, prev_hash: prev, hash };
      prev = hash;
      return e;
    });
    const stored = (text: (seq: number) => string): StoredAuditEvent[] => events.map(({ meta: _m, ...rest }) => ({ ...rest, meta_text: text(rest.seq) }));
    const run = (list: StoredAuditEvent[]) => {
      const v = new ChainVerifier(sha);
      for (const e of list) if (!v.pushStored(e)) break;
      return v.failed;
    };
    expect(run(stored((seq) => canonicalJson(multi(seq - 1))))).toBeNull();
    // Insertion order, as brokers before this change wrote it: slower, still intact.
    expect(run(stored((seq) => JSON.stringify(multi(seq - 1))))).toBeNull();
    const changed = stored((seq) => canonicalJson(seq === 7 ? { ...multi(6), z: 99 } : multi(seq - 1)));
    expect(run(changed)).toMatchObject({ seq: 7, problem: expect.stringMatching(/modified/) });
    const broken = stored((seq) => (seq === 3 ? '{"z":2,' : canonicalJson(multi(seq - 1))));
    expect(run(broken)).toMatchObject({ seq: 3 });
  });

  it('a forged checkpoint signature fails', () => {
    const cp = sign(10, chain(10)[9]!.hash);
    expect(verify(chain(10), [{ ...cp, sig: cp.sig.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }]).ok).toBe(false);
  });
});
