import { ChunkAckSchema, type RecordingMode } from '../../../common/recording.js';
import { SessionRecorder } from '../../session/recorder.js';
import { getBridge } from '../services.js';

/**
 * The end user's recording of one session: the recorder on the shared track, each chunk sent to
 * the broker's chunk route with the session token and a DPoP proof that main makes with the
 * device key (bridge `recording.chunkProof`). The page does the upload itself, with fetch: the
 * bridge carries no 2 MiB bodies.
 */

export interface RecordingStart {
  sessionId: string;
  token: string;
  mode: RecordingMode;
  track: MediaStreamTrack;
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = await globalThis.crypto.subtle.digest('SHA-256', bytes);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Starts the recorder and resolves once it runs; throws where this browser cannot record. */
export async function startRecording(o: RecordingStart): Promise<SessionRecorder> {
  const bridge = getBridge();
  const rec = new SessionRecorder(o.track, {
    MediaRecorder: globalThis.MediaRecorder,
    onError: (err) => console.warn('recording:', (err as Error).message),
    upload: async (seq, bytes) => {
      const sha256 = await sha256Hex(bytes);
      const { htu, proof } = await bridge.recording.chunkProof({ sessionId: o.sessionId, seq, bytes: bytes.length, token: o.token });
      const res = await fetch(htu, {
        method: 'POST',
        headers: {
          authorization: `DPoP ${o.token}`,
          dpop: proof,
          'content-type': 'application/octet-stream',
          'x-chaperone-bytes': String(bytes.length),
          'x-chaperone-sha256': sha256,
        },
        body: bytes,
        credentials: 'same-origin',
      });
      // 409: after the end, or not recorded; 403: the token is gone. Nothing more will be taken.
      if (res.status === 409 || res.status === 403) return 'stop';
      if (!res.ok) throw new Error(`the broker answered ${res.status} to recording chunk ${seq}`);
      ChunkAckSchema.parse(await res.json());
      return 'acked';
    },
  });
  await rec.start();
  return rec;
}
