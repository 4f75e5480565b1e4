import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { attachClipboard, detachClipboard } from '../../renderer/app/flows/clipboard.js';
import type { SessionEngine } from '../../renderer/session/engine.js';
import { useAppStore } from '../../renderer/app/store.js';

/** The analyst's browser clipboard, whose reads the test lets finish when it says. */
class SlowClipboard {
  text = '';
  private held: { resolve: (t: string) => void; saw: string }[] = [];
  hold = false;
  readText(): Promise<string> {
    if (!this.hold) return Promise.resolve(this.text);
    return new Promise((resolve) => this.held.push({ resolve, saw: this.text }));
  }
  writeText(t: string): Promise<void> {
    this.text = t;
    return Promise.resolve();
  }
  /** Lets the reads under way finish with what the clipboard held when they began. */
  release(): void {
    this.hold = false;
    for (const r of this.held.splice(0)) r.resolve(r.saw);
  }
}

const sessionId = '9b2f3c1e-1d2a-4c3b-8e4f-5a6b7c8d9e0f';

describe("the analyst's clipboard sync", () => {
  let clipboard: SlowClipboard;
  let sent: string[];
  let deliver: (data: string) => void;

  beforeEach(() => {
    vi.useFakeTimers();
    clipboard = new SlowClipboard();
    clipboard.text = 'on the clipboard before the grant';
    vi.stubGlobal('navigator', { clipboard });
    useAppStore.getState().setGrant('clipboard', true, 'end user', 'both');
    sent = [];
    const engine = {
      role: 'analyst',
      on: (event: string, fn: (d: string) => void) => {
        if (event === 'clipboard') deliver = fn;
        return () => undefined;
      },
      sendClipboard: (s: string) => (sent.push(s), true),
    } as unknown as SessionEngine;
    attachClipboard(engine, sessionId);
  });

  afterEach(() => {
    detachClipboard();
    useAppStore.getState().setGrant('clipboard', false);
    vi.unstubAllGlobals();
    vi.useRealTimers();
  });

  const tick = () => vi.advanceTimersByTimeAsync(250);

  it("does not send the end user's text back when it arrived while a look at the clipboard was under way", async () => {
    await tick(); // the grant's first look: what was there is not sent
    clipboard.hold = true;
    await tick(); // a look begins and sees the old clipboard...
    deliver(JSON.stringify({ t: 'text', text: 'Ticket 4711: error 0x80070005' })); // ...as the end user's text arrives and is written
    clipboard.release(); // the old look finishes after the write
    await tick();
    await tick();
    expect(clipboard.text).toBe('Ticket 4711: error 0x80070005');
    expect(sent).toEqual([]);
    // What the analyst copies afterwards still goes.
    clipboard.text = '\\\\files\\share\\vpn';
    await tick();
    expect(sent.map((s) => JSON.parse(s) as unknown)).toEqual([{ t: 'text', text: '\\\\files\\share\\vpn' }]);
  });
});
