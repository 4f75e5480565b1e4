import { SessionStateEventSchema } from '../../../common/protocol/responses.js';
import type { SessionState } from '../../../common/session-state.js';
import type { BrokerClient } from '../broker-client.js';

/** An event larger than this is not one the broker sends: the stream is dropped (the poll goes on). */
const MAX_EVENT_CHARS = 4096;

/**
 * The analyst's push channel for its session's state (GET /api/v1/sessions/:id/events): each
 * `state` event is parsed through its schema and handed on; anything else is ignored. When the
 * stream cannot be opened or breaks, nothing else happens here: the once-a-second poll in
 * staff.ts still finds the change, only later.
 */
export function watchSessionState(client: BrokerClient, sessionId: string, onState: (s: SessionState) => void): () => void {
  const abort = new AbortController();
  void (async () => {
    const res = await client.openStream(`/api/v1/sessions/${encodeURIComponent(sessionId)}/events`, abort.signal);
    if (!res.ok || !res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const state = parseStateEvent(block);
        if (state) onState(state);
      }
      if (buf.length > MAX_EVENT_CHARS) return abort.abort();
    }
  })().catch(() => undefined);
  return () => abort.abort();
}

/** One event block (`event:` and `data:` lines) to the state it carries, or null. */
export function parseStateEvent(block: string): SessionState | null {
  let event = 'message';
  let data = '';
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data += line.slice(5).trim();
  }
  if (event !== 'state' || !data) return null;
  try {
    const p = SessionStateEventSchema.safeParse(JSON.parse(data));
    return p.success ? p.data.state : null;
  } catch {
    return null;
  }
}
