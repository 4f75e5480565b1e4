import fs from 'node:fs';
import { z } from 'zod';
import { writePrivateFileAtomic } from './private-file.js';
import { LOCAL_GRANTS } from '../common/protocol/signaling.js';
import type { GrantJournal, GrantKind, JournalEntry, JournalLoad } from './grants.js';

const MAX_JOURNAL_BYTES = 64 * 1024;

const JournalFileSchema = z
  .object({
    version: z.literal(1),
    grants: z
      .array(
        z
          .object({
            sessionId: z.string().min(1).max(64),
            kind: z.enum(LOCAL_GRANTS),
            grantedAt: z.number(),
            expiresAt: z.number(),
            state: z.enum(['live', 'revoking', 'unconfirmed']),
          })
          .strict(),
      )
      .max(256),
  })
  .strict();

/**
 * The grant journal as a small JSON file, readable by this user only. Each save writes a temp
 * file, fsyncs it and renames it over the old one, so a crash mid-write leaves either the old
 * journal or the new one, never half of each.
 */
export class FileGrantJournal implements GrantJournal {
  constructor(readonly file: string) {}

  load(): JournalLoad {
    let text: string;
    try {
      const st = fs.statSync(this.file);
      if (st.size > MAX_JOURNAL_BYTES) return { ok: false, why: `journal is ${st.size} bytes` };
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, entries: [] };
      return { ok: false, why: (err as Error).message };
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return { ok: false, why: 'journal is not JSON' };
    }
    const r = JournalFileSchema.safeParse(raw);
    if (!r.success) return { ok: false, why: 'journal does not match its schema' };
    return { ok: true, entries: r.data.grants };
  }

  save(entries: readonly JournalEntry[]): void {
    writePrivateFileAtomic(this.file, JSON.stringify({ version: 1, grants: [...entries] } satisfies z.infer<typeof JournalFileSchema>));
  }
}

export interface RecoveredGrant {
  /** null when the journal was unreadable and every kind was revoked blind. */
  sessionId: string | null;
  kind: GrantKind;
  /** false when the revoker threw: the resource may still be held, the end user should be told. */
  confirmed: boolean;
}

/**
 * Runs once at start, before a GrantRegistry is created: revokes every grant a crashed run left in
 * the journal, clears it, and returns what it revoked so the app can report it to the broker.
 * An unreadable journal could have listed anything, so every kind is revoked.
 */
export async function recoverAfterCrash(
  journal: GrantJournal,
  revokers: Record<GrantKind, () => Promise<void> | void>,
): Promise<RecoveredGrant[]> {
  const loaded = journal.load();
  const found: { sessionId: string | null; kind: GrantKind }[] = loaded.ok
    ? loaded.entries.map((e) => ({ sessionId: e.sessionId, kind: e.kind }))
    : LOCAL_GRANTS.map((kind) => ({ sessionId: null, kind }));
  const unique = new Map<string, { sessionId: string | null; kind: GrantKind }>();
  for (const f of found) unique.set(`${f.sessionId ?? ''}\u0000${f.kind}`, f);

  const confirmed = new Map<GrantKind, boolean>();
  for (const kind of new Set([...unique.values()].map((f) => f.kind))) {
    try {
      await revokers[kind]();
      confirmed.set(kind, true);
    } catch {
      confirmed.set(kind, false);
    }
  }
  if (!loaded.ok || found.length > 0) journal.save([]);
  return [...unique.values()].map((f) => ({ ...f, confirmed: confirmed.get(f.kind) ?? false }));
}
