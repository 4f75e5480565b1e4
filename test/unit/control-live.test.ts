import { describe, expect, it } from 'vitest';
import { decodeSessionMessage } from '../../common/control/protocol.js';

describe("the end user's control-live message", () => {
  it('is a session message, never input for the gate, and takes nothing but its seq', () => {
    expect(decodeSessionMessage(JSON.stringify({ t: 'control-live', seq: 3 }))).toEqual({ ok: true, msg: { t: 'control-live', seq: 3 } });
    // Claims the type but does not fit: dropped, not passed on to the input gate.
    expect(decodeSessionMessage(JSON.stringify({ t: 'control-live', seq: 3, live: false }))).toEqual({ ok: false });
    expect(decodeSessionMessage(JSON.stringify({ t: 'control-live' }))).toEqual({ ok: false });
    expect(decodeSessionMessage(JSON.stringify({ t: 'control-live', seq: -1 }))).toEqual({ ok: false });
  });
});
