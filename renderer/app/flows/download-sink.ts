import { sha256 } from '@noble/hashes/sha2';
import { safeFileName } from '../../../common/files/safe-name.js';
import type { FileSink } from '../../session/file-transfers.js';

/**
 * Where a file the end user sends lands on the analyst's side: the browser's own downloads. The
 * pieces are kept as they arrive (a Blob is made of them only at the end) and hashed on the way;
 * the download starts only when the size and SHA-256 match the offer, so a cut or altered file
 * never reaches the analyst's disk. `allowed` is asked at every step: a revoked grant stops it.
 */

/** The browser keeps the pieces in memory until the download, so the analyst's side takes less than main's 2 GiB. */
export const MAX_DOWNLOAD_BYTES = 1024 ** 3;

interface Pending {
  name: string;
  size: number;
  sha256: string;
  accepted: boolean;
  parts: Uint8Array[];
  written: number;
  hash: ReturnType<typeof sha256.create>;
}

export function downloadSink(allowed: () => boolean, save: (blob: Blob, name: string) => void = browserDownload): FileSink {
  const pending = new Map<string, Pending>();
  const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return {
    offer: async (o) => {
      if (!allowed()) return { ok: false, reason: 'not_granted' };
      if (o.size > MAX_DOWNLOAD_BYTES) return { ok: false, reason: 'too_large' };
      if (pending.size > 0) return { ok: false, reason: 'busy' };
      const name = safeFileName(o.name);
      pending.set(o.id, { name, size: o.size, sha256: o.sha256, accepted: false, parts: [], written: 0, hash: sha256.create() });
      return { ok: true, saveAs: name };
    },
    accept: async (id) => {
      const p = pending.get(id);
      if (!p || p.accepted) return { ok: false, reason: 'unknown_transfer' };
      if (!allowed()) {
        pending.delete(id);
        return { ok: false, reason: 'not_granted' };
      }
      p.accepted = true;
      return { ok: true };
    },
    refuse: async (id) => void pending.delete(id),
    write: async (id, offset, bytes) => {
      const p = pending.get(id);
      if (!p || !p.accepted) return { ok: false, reason: 'unknown_transfer' };
      if (!allowed()) {
        pending.delete(id);
        return { ok: false, reason: 'not_granted' };
      }
      if (offset !== p.written || p.written + bytes.length > p.size) {
        pending.delete(id);
        return { ok: false, reason: 'out_of_order' };
      }
      p.hash.update(bytes);
      p.parts.push(bytes);
      p.written += bytes.length;
      return { ok: true };
    },
    finish: async (id) => {
      const p = pending.get(id);
      pending.delete(id);
      if (!p || !p.accepted) return { ok: false, reason: 'unknown_transfer' };
      if (p.written !== p.size) return { ok: false, reason: 'size_mismatch' };
      if (hex(p.hash.digest()) !== p.sha256) return { ok: false, reason: 'hash_mismatch' };
      save(new Blob(p.parts as BlobPart[], { type: 'application/octet-stream' }), p.name);
      return { ok: true, savedAs: p.name };
    },
    cancel: async (id) => void pending.delete(id),
  };
}

function browserDownload(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.append(a);
  a.click();
  a.remove();
  // The download has its own copy once it started; the page's goes.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
