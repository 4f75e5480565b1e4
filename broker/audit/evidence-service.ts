import type { KeyRing } from '../keys.js';
import type { Storage } from '../storage/db.js';
import type { RecordingStore } from '../storage/recording-store.js';
import { conflict, notFound } from '../domain-errors.js';
import { EvidenceError, buildEvidenceBundle } from './evidence-export.js';
import type { AuditLog } from './log.js';

/** The evidence bundle for the console's download button; every export is audited (who, which, when). */
export class EvidenceService {
  constructor(
    private readonly storage: Storage,
    private readonly store: RecordingStore,
    private readonly keys: KeyRing,
    private readonly audit: AuditLog,
    private readonly now: () => number,
  ) {}

  async export(sessionId: string, actor: { actor: string; source: string | null }): Promise<Buffer> {
    // The bundle ends at a signed checkpoint after the session's last event: commit what is queued first.
    await this.audit.flush();
    const b = await buildEvidenceBundle({ db: this.storage.db, store: this.store, keys: this.keys, sessionId, now: this.now() }).catch((e: unknown) => {
      if (!(e instanceof EvidenceError)) throw e;
      throw e.message.startsWith('no session') ? notFound(e.message) : conflict(e.message, 'not_exportable');
    });
    await this.audit.append({ type: 'recording.exported', outcome: 'success', ...actor, session_id: sessionId, meta: { bytes: b.bytes, files: b.files, via: 'api' } });
    return b.tar;
  }
}
