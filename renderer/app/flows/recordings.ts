import { PlaybackTicketSchema, RecordingListSchema, RecordingMarkersSchema, type RecordingMarker, type RecordingRow } from '../../../common/protocol/recordings.js';
import { staffBroker } from '../services.js';

/**
 * The auditor's Recordings screen: the list, a playback URL (a ticket the broker signs and audits
 * as recording.viewed, since a video element cannot send a DPoP proof), the markers, the evidence.
 */

export type { RecordingMarker, RecordingRow };

export interface RecordingFilters {
  analyst: string;
  ticket: string;
  /** yyyy-mm-dd from a date field, or empty. */
  from: string;
  to: string;
}

const DAY_MS = 86_400_000;

export async function listRecordings(f: RecordingFilters): Promise<RecordingRow[]> {
  const q = new URLSearchParams();
  if (f.analyst.trim()) q.set('analyst', f.analyst.trim());
  if (f.ticket.trim()) q.set('ticket', f.ticket.trim());
  // Dates are the auditor's local days: from the start of `from` to the end of `to`.
  if (f.from) q.set('from', String(new Date(`${f.from}T00:00`).getTime()));
  if (f.to) q.set('to', String(new Date(`${f.to}T00:00`).getTime() + DAY_MS));
  const s = q.toString();
  return (await staffBroker().get(`/api/v1/recordings${s ? `?${s}` : ''}`, RecordingListSchema)).recordings;
}

/** The URL the player loads: the broker's address and the ticket's path. */
export async function playbackUrl(sessionId: string): Promise<string> {
  const t = await staffBroker().post(`/api/v1/sessions/${sessionId}/recording/playback`, {}, PlaybackTicketSchema);
  return `${staffBroker().baseUrl}${t.url}`;
}

export async function markers(sessionId: string): Promise<RecordingMarker[]> {
  return (await staffBroker().get(`/api/v1/sessions/${sessionId}/recording/markers`, RecordingMarkersSchema)).markers;
}

/** Saves the evidence bundle (audited by the broker as recording.exported). */
export async function downloadEvidence(sessionId: string): Promise<void> {
  const blob = await staffBroker().bytes(`/api/v1/sessions/${sessionId}/evidence`);
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = `evidence-${sessionId}.tar`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
