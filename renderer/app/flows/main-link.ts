import type { ChaperoneBridge } from '../../../common/bridge/api.js';
import type { SessionEngine } from '../../session/engine.js';

/**
 * What the end user's engine tells main, for one session: every raw data-channel message goes to
 * the input gate untouched, and an interruption locks the gate itself (the screen's "control is
 * locked" would otherwise be a promise the desktop does not keep). A watcher's suspension
 * (control.state) locks it the same way: the grant stays, the analyst's input is dropped until
 * it is resumed. The gate is unlocked only when neither holds. Calls keep their order on the
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
  });
}
