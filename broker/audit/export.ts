import fs from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { readHead } from './log.js';
import { loadKeyRingIfAny, parseMeta, withLogSnapshot } from './stored-log.js';
import { EVENT_PREFIX, type ExportHeader } from './verify.js';

export interface AuditExportArgs {
  dataDir: string;
  databaseUrl?: string | undefined;
  pgSchema?: string | undefined;
  /** File to write; stdout when absent. */
  out?: string | undefined;
  /** Export only events with seq > sinceSeq (the last seq of a previous export). */
  sinceSeq?: number | undefined;
}

const FLUSH_AT = 256 * 1024;

/** Collects lines into large writes and waits for drain, so memory stays bounded on huge logs. */
class LineWriter {
  private buf = '';
  private error: Error | null = null;

  constructor(private readonly out: Writable) {
    // A write error (disk full, closed pipe) must fail the export, not crash the process.
    // (events.once below rejects by itself if the error comes while it waits for drain.)
    out.on('error', (err: Error) => {
      this.error ??= err;
    });
  }

  /** Synchronous so the per-event loop has no await; callers flush once per chunk. */
  line(text: string): void {
    this.buf += text;
    this.buf += '\n';
  }

  async flush(force = false): Promise<void> {
    if (this.error) throw this.error;
    if (this.buf === '' || (!force && this.buf.length < FLUSH_AT)) return;
    const chunk = this.buf;
    this.buf = '';
    if (!this.out.write(chunk)) await once(this.out, 'drain');
    if (this.error) throw this.error;
  }
}

/**
 * Writes the log as JSON lines: a header, every event, the checkpoints, the signed head and the
 * public keys that signed them, so an auditor can verify it offline with verifyExportFile.
 */
export async function runAuditExport(args: AuditExportArgs): Promise<number> {
  const since = args.sinceSeq ?? 0;
  const tmp = args.out ? `${args.out}.${process.pid}.tmp` : null;
  let stream: fs.WriteStream | null = null;
  try {
    if (!Number.isInteger(since) || since < 0) throw new Error('sinceSeq must be a non-negative integer');
    if (!fs.existsSync(args.dataDir)) throw new Error(`data dir ${args.dataDir} does not exist`);
    // Read before the snapshot, for the same reason verifyStoredLog does.
    const head = readHead(args.dataDir);
    // Audit data is as sensitive as the database; a temp file renamed at the end means a
    // failed export never leaves a plausible-looking partial file behind.
    if (tmp) stream = fs.createWriteStream(tmp, { mode: 0o600 });
    const out = new LineWriter(stream ?? process.stdout);
    const counts = await withLogSnapshot(args, async (snap) => {
      const header: ExportHeader = { format: 'chaperone-audit-export', version: 1, since_seq: since, exported_at: Date.now() };
      out.line(JSON.stringify({ kind: 'export', ...header }));
      let events = 0;
      for await (const chunk of snap.events(since)) {
        for (const { meta_text, ...rest } of chunk) {
          const e = { ...rest, meta: parseMeta(meta_text) };
          // The exact prefix lets verifyExportFile's first pass skip event lines without parsing them.
          out.line(`${EVENT_PREFIX},${JSON.stringify(e).slice(1)}`);
        }
        events += chunk.length;
        await out.flush();
      }
      const checkpoints = await snap.checkpoints(since);
      // Loaded inside the snapshot for the reason verifyStoredLog gives.
      const ring = loadKeyRingIfAny(args.dataDir);
      for (const c of checkpoints) out.line(JSON.stringify({ kind: 'checkpoint', ...c }));
      if (head) out.line(JSON.stringify({ kind: 'head', ...head }));
      const kids = new Set<string>(checkpoints.map((c) => c.kid));
      if (head) kids.add(head.kid);
      const missing: string[] = [];
      for (const kid of [...kids].sort()) {
        const key = ring?.byKid(kid);
        if (key) out.line(JSON.stringify({ kind: 'key', jwk: key.publicJwk }));
        else missing.push(kid);
      }
      await out.flush(true);
      return { events, checkpoints: checkpoints.length, missing };
    });
    if (stream && tmp && args.out) {
      stream.end();
      await once(stream, 'finish');
      fs.renameSync(tmp, args.out);
    }
    if (counts.missing.length > 0) {
      process.stderr.write(`warning: no public key for ${counts.missing.join(', ')}; those checkpoints cannot be verified\n`);
    }
    if (args.out) process.stderr.write(`exported ${counts.events} events and ${counts.checkpoints} checkpoints to ${args.out}\n`);
    return 0;
  } catch (err) {
    stream?.destroy();
    if (tmp) fs.rmSync(tmp, { force: true });
    process.stderr.write(`audit export failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
