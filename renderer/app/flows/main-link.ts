import type { ChaperoneBridge } from '../../../common/bridge/api.js';
import type { SessionEngine } from '../../session/engine.js';
import { UNSAFE_TEXT } from '../../../common/protocol/text.js';

/**
 * What the end user's engine tells main, for one session: every raw data-channel message goes to
 * the input gate untouched, and an interruption locks the gate itself (the screen's "control is
 * locked" would otherwise be a promise the desktop does not keep). A watcher's suspension
 * (control.state) locks it the same way: the grant stays, the analyst's input is dropped until
 * it is resumed. The gate is unlocked only when neither holds. Watchers coming and going, and
 * suspensions, are written into the transcript by main. Calls keep their order on the
 * bridge, so input sent after the lock reaches the gate after it.
 */
export function linkEngineToMain(e: SessionEngine, bridge: ChaperoneBridge, sessionId: string): void {
  let interrupted = false;
  let suspended = false;
  let locked = false;
  const apply = () => {
    const want = interrupted || suspended;
    if (want === locked) return;
    locked = want;
    void (want ? bridge.session.interrupted({ sessionId }) : bridge.session.resumed({ sessionId })).catch(() => undefined);
  };
  e.on('control', (c) => void bridge.input.deliver({ sessionId, data: c.data, channel: c.channel }).catch(() => undefined));
  e.on('controlLocked', (l) => {
    interrupted = l;
    apply();
  });
  e.on('controlState', (c) => {
    suspended = c.suspended;
    apply();
    tellTranscript();
  });
  // Who watches goes into this computer's own transcript too (main writes only the changes).
  let watchers: { id: string; name: string }[] = [];
  const tellTranscript = () => void bridge.transcript.presence({ sessionId, watchers, suspended }).catch(() => undefined);
  e.on('presence', (p) => {
    watchers = p.present.filter((x) => x.kind === 'watcher').slice(0, 20).map((x) => ({ id: x.id, name: plainName(x.name) }));
    tellTranscript();
  });
}

/** A name as the transcript keeps it: one line, at most 64 UTF-16 units, nothing invisible. */
function plainName(name: string): string {
  const plain = name.replace(new RegExp(UNSAFE_TEXT.source, 'gu'), ' ').replace(/\s+/g, ' ').trim();
  let cut = plain.slice(0, 64);
  // A cut through a surrogate pair would leave half a character, which the bridge refuses.
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut || 'a watcher';
}
