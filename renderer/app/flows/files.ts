import { FILE_PIECE_TO_MAIN_BYTES } from '../../../common/bridge/api.js';
import { allowsWay } from '../../../common/grant-direction.js';
import type { SessionEngine } from '../../session/engine.js';
import type { TransferEvent } from '../../../common/protocol/signaling.js';
import { FileTransfers, type FileSink, type FileSource, type TransferView } from '../../session/file-transfers.js';
import { getBridge } from '../services.js';
import { useAppStore } from '../store.js';
import { downloadSink } from './download-sink.js';

/**
 * File transfer in the page: one FileTransfers per session on the engine's files channel. On the
 * end user's side every received byte goes to main (which decides, writes and checks the hash);
 * on the analyst's side to the browser's downloads (download-sink.ts). Either sends a file picked
 * in its own file dialog, only while the files grant lets files go that way.
 */

let transfers: FileTransfers | null = null;
let role: SessionEngine['role'] | null = null;
const offs: (() => void)[] = [];

/** Main's receiver over the bridge, in pieces the bridge carries. */
function mainSink(sessionId: string): FileSink {
  const files = getBridge().files;
  const fail = (err: unknown) => ({ ok: false as const, reason: ((err as Error).message || 'bridge_failed').slice(0, 64) });
  return {
    offer: (o) => files.offer({ sessionId, ...o }).catch(fail),
    accept: (id) => files.accept({ sessionId, id }).catch(fail),
    refuse: async (id) => void (await files.refuse({ sessionId, id }).catch(() => undefined)),
    // Not async, and nothing after the calls refers to `bytes`: the piece is copied into the
    // bridge's frame as the call is made, and must not stay reachable while main answers.
    write: (id, offset, bytes) => {
      const calls: Promise<{ ok: true; written: number } | { ok: false; reason: string }>[] = [];
      for (let i = 0; i < bytes.length; i += FILE_PIECE_TO_MAIN_BYTES) {
        calls.push(files.write({ sessionId, id, offset: offset + i, data: bytes.subarray(i, i + FILE_PIECE_TO_MAIN_BYTES) }).catch(fail));
      }
      return Promise.all(calls).then((rs) => rs.find((r) => !r.ok) ?? { ok: true as const });
    },
    finish: (id) => files.finish({ sessionId, id }).catch(fail),
    cancel: async (id) => void (await files.cancel({ sessionId, id }).catch(() => undefined)),
  };
}

/** Whether the live files grant lets a file go `way` now, as this page knows it. */
function grantLets(way: 'to_end_user' | 'from_end_user'): boolean {
  const live = useAppStore.getState().live;
  return live.granted.includes('files') && allowsWay(live.grantDirections.files, way);
}

/** The way files go from this side, and the way they come to it. */
function ways(role: SessionEngine['role']): { out: 'to_end_user' | 'from_end_user'; in: 'to_end_user' | 'from_end_user' } {
  return role === 'end_user' ? { out: 'from_end_user', in: 'to_end_user' } : { out: 'to_end_user', in: 'from_end_user' };
}

export function attachFiles(e: SessionEngine, sessionId: string): void {
  detachFiles();
  const way = ways(e.role);
  const t = new FileTransfers(() => e.filesChannel(), e.role === 'end_user' ? mainSink(sessionId) : downloadSink(() => grantLets(way.in)));
  transfers = t;
  role = e.role;
  offs.push(
    e.on('file', (d) => t.onMessage(d)),
    t.on('update', (v) => useAppStore.getState().setTransfer(v)),
    // The grant went (either side took it back, it expired): whatever is in flight stops now.
    useAppStore.subscribe((s, before) => {
      if (before.live.granted.includes('files') && !s.live.granted.includes('files')) t.stoppedHere('revoked');
    }),
  );
  if (e.role === 'end_user') {
    // On the record, from the end user's machine: each decision and end, both ways, with name,
    // size and hash, never the content. The analyst's decisions arrive as the sender's states.
    const recorded = new Map<string, string>();
    const IN_EVENT: Partial<Record<TransferView['state'], TransferEvent>> = { offered: 'offered', receiving: 'accepted', refused: 'refused', saved: 'saved', failed: 'failed', cancelled: 'cancelled' };
    const OUT_EVENT: Partial<Record<TransferView['state'], TransferEvent>> = { offered: 'offered', sending: 'accepted', refused: 'refused', saved: 'saved', failed: 'failed', cancelled: 'cancelled' };
    offs.push(
      t.on('update', (v) => {
        const event = (v.way === 'in' ? IN_EVENT : OUT_EVENT)[v.state];
        const key = `${v.way}:${v.id}`;
        if (!event || !v.sha256 || recorded.get(key) === event) return;
        recorded.set(key, event);
        const reason = (event === 'failed' || event === 'cancelled' || event === 'refused') && v.detail ? { reason: v.detail.replace(/[^a-z_]/g, '_').slice(0, 64) } : {};
        e.recordTransfer({ transfer_id: v.id, event, direction: v.way === 'in' ? way.in : way.out, name: v.name, size: v.size, sha256: v.sha256, ...reason });
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
  // The session is over: nothing half-received stays in this page either.
  transfers?.stoppedHere('session_ended');
  transfers = null;
  role = null;
}

function fileSource(f: File): FileSource {
  return { name: f.name, size: f.size, read: async (offset, length) => new Uint8Array(await f.slice(offset, offset + length).arrayBuffer()) };
}

/** A file picked in this side's file dialog; the other side accepts or refuses it. */
export async function sendFile(f: File): Promise<void> {
  if (!transfers || !role || transfers.sending || !grantLets(ways(role).out)) return;
  await transfers.send(fileSource(f), globalThis.crypto.randomUUID());
}

export async function answerFile(id: string, accept: boolean): Promise<void> {
  await transfers?.answer(id, accept);
}

export async function cancelFile(id: string): Promise<void> {
  await transfers?.cancel(id);
}
