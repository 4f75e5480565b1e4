import crypto from 'node:crypto';
import type { DeviceKey } from './device.js';

export interface ChunkResult {
  status: number;
  body: any;
}

/** Uploads one recording chunk as the end user's client does: session token, DPoP proof, seq, length, sha256. */
export async function uploadChunk(
  baseUrl: string,
  device: DeviceKey,
  token: string,
  sessionId: string,
  seq: number,
  bytes: Buffer,
  override: { sha256?: string; bytes?: number } = {},
): Promise<ChunkResult> {
  const url = `${baseUrl}/api/v1/sessions/${sessionId}/recording/chunks/${seq}`;
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      authorization: `DPoP ${token}`,
      dpop: await device.httpProof('POST', url, token),
      'content-type': 'application/octet-stream',
      'x-chaperone-sha256': override.sha256 ?? crypto.createHash('sha256').update(bytes).digest('hex'),
      'x-chaperone-bytes': String(override.bytes ?? bytes.length),
    },
    body: new Uint8Array(bytes),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: res.status, body };
}

/** Bytes that stand for a chunk in tests that check storage and the chain, not playback. */
export function fakeChunk(seq: number, size = 4096): Buffer {
  const b = crypto.randomBytes(size);
  b.writeUInt32BE(seq, 0);
  return b;
}
