import fs from 'node:fs';
import { KeyRing } from '../keys.js';
import { openStorage } from '../storage/db.js';
import { DirRecordingStore } from '../storage/recording-store.js';
import { buildEvidenceBundle } from './evidence-export.js';
import { verifyEvidence } from './evidence-verify.js';
import { AuditLog } from './log.js';

/** `chaperone-broker evidence export --session ID --out FILE`: the bundle, and the export audited. */
export async function runEvidenceExport(a: { dataDir: string; databaseUrl?: string | undefined; sessionId: string; out: string }): Promise<number> {
  if (!fs.existsSync(a.dataDir)) {
    process.stderr.write(`evidence export failed: data dir ${a.dataDir} does not exist\n`);
    return 1;
  }
  const storage = await openStorage({ dataDir: a.dataDir, databaseUrl: a.databaseUrl });
  const { ring } = KeyRing.load(a.dataDir, 3600_000);
  const audit = new AuditLog(storage, ring, a.dataDir);
  try {
    const b = await buildEvidenceBundle({ db: storage.db, store: new DirRecordingStore(a.dataDir), keys: ring, sessionId: a.sessionId, now: Date.now() });
    const tmp = `${a.out}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, b.tar, { mode: 0o600 });
    fs.renameSync(tmp, a.out);
    await audit.append({ type: 'recording.exported', outcome: 'success', actor: 'cli', session_id: a.sessionId, meta: { bytes: b.bytes, files: b.files, via: 'cli' } });
    process.stderr.write(`exported the evidence of session ${a.sessionId} to ${a.out} (${b.files} files, ${b.bytes} bytes)\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`evidence export failed: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await audit.close();
    await storage.close();
  }
}

/** `chaperone-broker evidence verify FILE`: exit 0 intact, 2 tampered (each problem named), 1 unreadable. */
export function runEvidenceVerify(a: { file: string; json: boolean }): number {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(a.file);
  } catch (e) {
    process.stderr.write(`evidence verify: cannot read ${a.file}: ${(e as Error).message}\n`);
    return 1;
  }
  const t0 = process.hrtime.bigint();
  const r = verifyEvidence(bytes);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (a.json) process.stdout.write(JSON.stringify({ ...r, ms: Math.round(ms * 10) / 10, bytes: bytes.length }) + '\n');
  else {
    const c = r.checked;
    if (r.ok) {
      process.stdout.write(
        `intact: session ${r.session_id}: ${c.events} audit events (${c.session_events} of the session), ${c.chunks} recording chunks (${c.chunk_bytes} bytes), ${c.receipts} receipts, ${c.transcript_batches} transcript batches, ${c.signatures} broker signatures\n`,
      );
    } else {
      process.stdout.write(`TAMPERED: session ${r.session_id ?? '(unknown)'}:\n${r.problems.map((p) => `  - ${p}\n`).join('')}`);
    }
    for (const n of r.notes) process.stdout.write(`  note: ${n}\n`);
    process.stdout.write(`  checked with the broker keys ${r.keys.join(', ') || '(none)'}: compare them with the broker's /.well-known/jwks.json\n`);
  }
  return r.ok ? 0 : r.session_id === null && r.problems.some((p) => p.startsWith('not a readable bundle')) ? 1 : 2;
}
