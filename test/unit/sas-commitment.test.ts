import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newSasSecret, revealMatches, sasCommitment, sdpFingerprint, shortAuthString } from '../../common/sas.js';

/**
 * The verification code with a commitment (docs/session-protocol.md, "Verification code"). A
 * middleman that terminates DTLS with each side using its own certificates sees both real
 * fingerprints before it picks its own. With the code derived from the fingerprints alone it
 * could grind certificates until both sides showed the same digits. Here each side commits to a
 * fresh random value before it has seen the other's and reveals it only after, and the digits
 * depend on both values: before the reveal the middleman has nothing to grind against.
 */

const fp = (bytes: Buffer): string => [...bytes].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
const randomFp = (): string => fp(crypto.randomBytes(32));
const sha = (s: string): Buffer => crypto.createHash('sha256').update(s, 'utf8').digest();

/** The construction as a third party would write it from the doc, with node:crypto. */
function docCommitment(role: 'end_user' | 'analyst', secret: string): string {
  return sha(`chaperone-sas-commit-v2\n${role}\n${secret}`).toString('base64url');
}
function docCode(euFp: string, anFp: string, euSecret: string, anSecret: string): string {
  const n = sha(`chaperone-sas-v2\n${euFp}\n${anFp}\n${euSecret}\n${anSecret}`).readUInt32BE(0) % 1_000_000;
  const d = String(n).padStart(6, '0');
  return `${d.slice(0, 3)} ${d.slice(3)}`;
}

const EU_FP = fp(Buffer.alloc(32, 0xa1));
const AN_FP = fp(Buffer.alloc(32, 0x5c));
const EU_SECRET = Buffer.alloc(32, 1).toString('base64url');
const AN_SECRET = Buffer.alloc(32, 2).toString('base64url');

describe('verification code with a commitment', () => {
  it('matches the documented construction byte for byte (known answers, no "sha-256 " prefix in the hashed text)', async () => {
    // The values published in docs/session-protocol.md for these inputs.
    expect(await sasCommitment('end_user', EU_SECRET)).toBe('HbzyisxqH1N33nYQLgzv_n2l7rMYzE0SnpG0xtoTvHg');
    expect(await sasCommitment('analyst', AN_SECRET)).toBe('40orh5k9qK__R_ze61lD1sHji0w8QwsF0wfGpQxA_fI');
    expect(await sasCommitment('end_user', EU_SECRET)).toBe(docCommitment('end_user', EU_SECRET));
    const code = await shortAuthString({ endUserFingerprint: EU_FP, analystFingerprint: AN_FP, endUserSecret: EU_SECRET, analystSecret: AN_SECRET });
    expect(code).toBe('737 364');
    expect(code).toBe(docCode(EU_FP, AN_FP, EU_SECRET, AN_SECRET));
    // The fingerprint is the value after "sha-256 ", upper case: lower case input is the same code,
    // and hashing the prefix too would be a different one.
    expect(await shortAuthString({ endUserFingerprint: EU_FP.toLowerCase(), analystFingerprint: AN_FP, endUserSecret: EU_SECRET, analystSecret: AN_SECRET })).toBe(code);
    expect(docCode(`sha-256 ${EU_FP}`, `sha-256 ${AN_FP}`, EU_SECRET, AN_SECRET)).not.toBe(code);
    expect(sdpFingerprint(`v=0\r\na=fingerprint:sha-256 ${EU_FP.toLowerCase()}\r\n`)).toBe(EU_FP);
  });

  it('a reveal must match the commitment made before it, for that role', async () => {
    const s = newSasSecret();
    expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(newSasSecret()).not.toBe(s);
    const c = await sasCommitment('analyst', s);
    expect(await revealMatches('analyst', s, c)).toBe(true);
    expect(await revealMatches('end_user', s, c)).toBe(false);
    expect(await revealMatches('analyst', newSasSecret(), c)).toBe(false);
    for (const bad of ['', 'x', `${s}=`, s.slice(1), `${s.slice(0, 42)}+`]) expect(await revealMatches('analyst', bad, c)).toBe(false);
  });

  it('a middleman swapping fingerprints cannot make the two codes equal, however many certificates it tries', async () => {
    // The honest sides: real fingerprints, fresh secrets, commitments sent first.
    const euSecret = newSasSecret();
    const anSecret = newSasSecret();
    const euFp = randomFp();
    const anFp = randomFp();
    const known = { euFp, anFp, euCommit: await sasCommitment('end_user', euSecret), anCommit: await sasCommitment('analyst', anSecret) };

    // Before any reveal the middleman knows both fingerprints and both commitments, nothing else.
    // It grinds 20,000 certificates and secrets of its own, committing to each before it could
    // learn anything more. Its best guess at what each side will show needs the honest secrets,
    // which only the commitments (one-way) stand for: it has to guess them.
    const TRIES = 20_000;
    const guessEu = newSasSecret();
    const guessAn = newSasSecret();
    const tries: { m1: string; m2: string; r1: string; r2: string; predictedEu: string; predictedAn: string }[] = [];
    for (let i = 0; i < TRIES; i++) {
      const m1 = randomFp(); // its certificate facing the end user
      const m2 = randomFp(); // its certificate facing the analyst
      const r1 = newSasSecret(); // its secret as the "analyst" towards the end user
      const r2 = newSasSecret(); // its secret as the "end user" towards the analyst
      tries.push({
        m1,
        m2,
        r1,
        r2,
        predictedEu: docCode(known.euFp, m1, guessEu, r1),
        predictedAn: docCode(m2, known.anFp, r2, guessAn),
      });
    }

    // Then the reveals. What each side really shows for each of the middleman's tries:
    let predictedRight = 0;
    let equalCodes = 0;
    for (const t of tries) {
      const eu = await shortAuthString({ endUserFingerprint: known.euFp, analystFingerprint: t.m1, endUserSecret: euSecret, analystSecret: t.r1 });
      const an = await shortAuthString({ endUserFingerprint: t.m2, analystFingerprint: known.anFp, endUserSecret: t.r2, analystSecret: anSecret });
      if (eu === t.predictedEu) predictedRight++;
      if (an === t.predictedAn) predictedRight++;
      if (eu === an) equalCodes++;
    }
    // Chance level is 1 in 1,000,000 per try: 0.04 expected predictions right in 40,000, 0.02
    // expected equal pairs in 20,000. A handful at most, never the certainty grinding would give.
    expect(predictedRight).toBeLessThanOrEqual(3);
    expect(equalCodes).toBeLessThanOrEqual(3);

    // And after the reveals it is too late: each value it could now pick to match is refused,
    // because it no longer matches what it committed to.
    const committed = tries[0]!;
    const commitTowardsEu = await sasCommitment('analyst', committed.r1);
    let accepted = 0;
    for (let i = 0; i < 2000; i++) if (await revealMatches('analyst', newSasSecret(), commitTowardsEu)) accepted++;
    expect(accepted).toBe(0);
    expect(await revealMatches('analyst', committed.r1, commitTowardsEu)).toBe(true);
  });
});
