import type { ChaperoneBridge } from '../../../common/bridge/api.js';
import type { SessionEngine } from '../../session/engine.js';

/**
 * What the end user's engine tells main, for one session: every raw data-channel message goes to
 * the input gate untouched, and an interruption locks the gate itself (the screen's "control is
 * locked" would otherwise be a promise the desktop does not keep). Calls keep their order on the
 * bridge, so input sent after the lock reaches the gate after it.
 */
export function linkEngineToMain(e: SessionEngine, bridge: ChaperoneBridge, sessionId: string): void {
  e.on('control', (c) => void bridge.input.deliver({ sessionId, data: c.data, channel: c.channel }).catch(() => undefined));
  e.on('controlLocked', (locked) => void (locked ? bridge.session.interrupted({ sessionId }) : bridge.session.resumed({ sessionId })).catch(() => undefined));
}
