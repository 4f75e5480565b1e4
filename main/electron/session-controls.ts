import { armPanicChord, type GlobalShortcuts } from '../panic.js';

export interface SessionControlsDeps {
  /** MainServices.activeSessions. */
  activeSessions(): readonly string[];
  /** The window lock: banner on top and unclosable while a session runs. */
  lock: { setRunning(running: boolean): void };
  shortcuts: GlobalShortcuts;
  /** The chord was pressed: end everything. */
  onPanic(): void;
  /** The chord could not be registered (another program holds it); the Stop button still works. */
  onChordUnavailable(err: Error): void;
}

/**
 * What the shell does while a session runs and undoes when none does: the window becomes the
 * banner (locked) and the panic chord is armed. The shell calls `sync` after every bridge call and
 * teardown, so the state follows MainServices rather than a copy of it. The chord is held only
 * during sessions, so the app does not take a global shortcut from other programs while idle.
 */
export class SessionControls {
  private disarm: (() => void) | null = null;
  /** Registration failed during this session: say so once, not on every call. */
  private chordFailed = false;

  constructor(private readonly d: SessionControlsDeps) {}

  get running(): boolean {
    return this.d.activeSessions().length > 0;
  }

  get chordArmed(): boolean {
    return this.disarm !== null;
  }

  sync(): void {
    const running = this.running;
    this.d.lock.setRunning(running);
    if (running && !this.disarm && !this.chordFailed) {
      try {
        this.disarm = armPanicChord(this.d.shortcuts, () => this.d.onPanic());
      } catch (err) {
        this.chordFailed = true;
        this.d.onChordUnavailable(err as Error);
      }
    } else if (!running) {
      this.chordFailed = false;
      this.disarm?.();
      this.disarm = null;
    }
  }

  /** At quit: release the chord whatever the state. */
  dispose(): void {
    this.disarm?.();
    this.disarm = null;
  }
}
