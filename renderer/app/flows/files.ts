import { MAX_FILE_PIECE_BYTES } from '../../../common/bridge/api.js';
import type { SessionEngine } from '../../session/engine.js';
import { FileTransfers, type FileSink, type FileSource, type TransferView } from '../../session/file-transfers.js';
import { getBridge } from '../services.js';
import { useAppStore } from '../store.js';

/**
 * File transfer in the page: one FileTransfers per session on the engine's files channel. On the
 * end user's side every received byte goes to main (which decides, writes and checks the hash);
 * the analyst sends files picked in the viewer's file dialog.
 */

let transfers: FileTransfers | null = null;
const offs: (() => void)[] = [];

function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Main's receiver over the bridge, in pieces the bridge carries. */
function mainSink(sessionId: string): FileSink {
  const files = getBridge().files;
  const fail = (err: unknown) => ({ ok: false as const, reason: ((err as Error).message || 'bridge_failed').slice(0, 64) });
  return {
    offer: (o) => files.offer({ sessionId, ...o }).catch(fail),
    accept: (id) => files.accept({ sessionId, id }).catch(fail),
    refuse: async (id) => void (await files.refuse({ sessionId, id }).catch(() => undefined)),
    write: async (id, offset, bytes) => {
      const calls: Promise<{ ok: true; written: number } | { ok: false; reason: string }>[] = [];
      for (let i = 0; i < bytes.length; i += MAX_FILE_PIECE_BYTES) {
        calls.push(files.write({ sessionId, id, offset: offset + i, data: base64(bytes.subarray(i, i + MAX_FILE_PIECE_BYTES)) }).catch(fail));
      }
      const rs = await Promise.all(calls);
      return rs.find((r) => !r.ok) ?? { ok: true as const };
    },
    finish: (id) => files.finish({ sessionId, id }).catch(fail),
    cancel: async (id) => void (await files.cancel({ sessionId, id }).catch(() => undefined)),
  };
}

export function attachFiles(e: SessionEngine, sessionId: string): void {
  detachFiles();
  const t = new FileTransfers(() => e.filesChannel(), e.role === 'end_user' ? mainSink(sessionId) : null);
  transfers = t;
  offs.push(
    e.on('file', (d) => t.onMessage(d)),
    t.on('update', (v) => useAppStore.getState().setTransfer(v)),
  );
  if (e.role === 'end_user') {
    // On the record: each decision and end, with name, size and hash, never the content.
    const recorded = new Map<string, string>();
    const EVENT: Partial<Record<TransferView['state'], 'offered' | 'accepted' | 'refused' | 'saved' | 'failed' | 'cancelled'>> = {
      offered: 'offered',
      receiving: 'accepted',
      refused: 'refused',
      saved: 'saved',
      failed: 'failed',
      cancelled: 'cancelled',
    };
    offs.push(
      t.on('update', (v) => {
        const event = EVENT[v.state];
        if (v.way !== 'in' || !event || !v.sha256 || recorded.get(v.id) === event) return;
        recorded.set(v.id, event);
        const reason = (event === 'failed' || event === 'cancelled') && v.detail ? { reason: v.detail.replace(/[^a-z_]/g, '_').slice(0, 64) } : {};
        e.recordTransfer({ transfer_id: v.id, event, direction: 'to_end_user', name: v.name, size: v.size, sha256: v.sha256, ...reason });
      }),
    );
    offs.push(
      getBridge().on('files.stopped', (s) => {
        if (s.sessionId === sessionId) t.stoppedHere(s.reason === 'teardown' ? 'session_ended' : 'revoked');
      }),
    );
  }
}

export function detachFiles(): void {
  for (const off of offs.splice(0)) off();
  transfers = null;
}

function fileSource(f: File): FileSource {
  return { name: f.name, size: f.size, read: async (offset, length) => new Uint8Array(await f.slice(offset, offset + length).arrayBuffer()) };
}

/** The analyst sends a file picked in the viewer (the end user accepts or refuses it). */
export async function sendFile(f: File): Promise<void> {
  if (!transfers || transfers.busy) return;
  await transfers.send(fileSource(f), globalThis.crypto.randomUUID());
}

export async function answerFile(id: string, accept: boolean): Promise<void> {
  await transfers?.answer(id, accept);
}

export async function cancelFile(id: string): Promise<void> {
  await transfers?.cancel(id);
}
