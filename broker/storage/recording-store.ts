import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Where recording bytes live: chunks, the rebuilt playable file, the signed manifest and the
 * transcript of each session, as named objects under the session's id. The database holds what
 * they are (seq, length, sha256); this port holds only bytes, so an S3-compatible store is one
 * more class with the same five calls (keys map to `<prefix>/<session>/<name>`; `put` is a
 * PutObject with the sha256 as its checksum, `remove` a DeleteObjects over `list`).
 *
 * Object names are content-addressed for chunks (`chunk-<seq>-<sha256>.webm`), so two uploads of
 * one seq with different bytes never overwrite each other: the database decides which one counts.
 */
export interface RecordingStore {
  /** Stores bytes under a name, durably, before resolving. Writing the same name twice is allowed. */
  put(sessionId: string, name: string, bytes: Buffer): Promise<void>;
  /** The bytes, or null when there is no such object. */
  get(sessionId: string, name: string): Promise<Buffer | null>;
  list(sessionId: string): Promise<string[]>;
  /** Removes one object (missing is fine). */
  delete(sessionId: string, name: string): Promise<void>;
  /** Removes every object of a session. */
  removeAll(sessionId: string): Promise<void>;
}

export const chunkObjectName = (seq: number, sha256: string): string => `chunk-${String(seq).padStart(6, '0')}-${sha256}.webm`;
export const PLAYABLE_OBJECT = 'recording.webm';
export const MANIFEST_OBJECT = 'manifest.jws';
/** One transcript batch per object, its canonical JSON on one line; the export joins them in seq order. */
export const transcriptObjectName = (seq: number): string => `transcript-${String(seq).padStart(6, '0')}.json`;

const SAFE_ID = /^[A-Za-z0-9-]{1,64}$/;
const SAFE_NAME = /^[A-Za-z0-9._-]{1,120}$/;

/** The default: files beside the database, DATA_DIR/recordings/<session>/<name>, mode 0600. */
export class DirRecordingStore implements RecordingStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'recordings');
  }

  private file(sessionId: string, name?: string): string {
    // Names come from our own code, but a session id reaches here from a URL: keep both inside the root.
    if (!SAFE_ID.test(sessionId) || (name !== undefined && (!SAFE_NAME.test(name) || name.startsWith('.')))) throw new Error('bad recording object name');
    return name === undefined ? path.join(this.root, sessionId) : path.join(this.root, sessionId, name);
  }

  async put(sessionId: string, name: string, bytes: Buffer): Promise<void> {
    const dir = this.file(sessionId);
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const final = this.file(sessionId, name);
    const tmp = path.join(dir, `.${name}.${crypto.randomBytes(6).toString('hex')}.tmp`);
    const fh = await fs.promises.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      // Acked means on disk: the end user's client drops a chunk once the broker acks it.
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.promises.rename(tmp, final);
  }

  async get(sessionId: string, name: string): Promise<Buffer | null> {
    try {
      return await fs.promises.readFile(this.file(sessionId, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async list(sessionId: string): Promise<string[]> {
    try {
      return (await fs.promises.readdir(this.file(sessionId))).filter((n) => !n.startsWith('.')).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async delete(sessionId: string, name: string): Promise<void> {
    await fs.promises.rm(this.file(sessionId, name), { force: true });
  }

  async removeAll(sessionId: string): Promise<void> {
    await fs.promises.rm(this.file(sessionId), { recursive: true, force: true });
  }
}
