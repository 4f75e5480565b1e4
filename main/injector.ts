import type { ControlRefusal } from '../common/control/refusals.js';

/**
 * The input injection port: what the input gate calls to put input into the end user's desktop.
 * The adapters (main/injectors/) implement it; main/injector-factory.ts picks one for the
 * platform. This file imports no adapter, so adapters can import it without a circle.
 */
export type PointerButton = 'left' | 'middle' | 'right';

/** The captured screen, in the platform's desktop pixels (one monitor may start away from 0,0). */
export interface ScreenRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Puts input into the end user's desktop. Only the input gate calls it, after it has checked the
 * session, the control grant and the panic chord; an injector checks nothing of that itself.
 * Calls are fire-and-forget and keep their order; an adapter reports asynchronous failures
 * through its own error callback.
 */
export interface Injector {
  readonly screen: ScreenRect;
  /** Absolute pointer move; x and y are normalised (0..1) to `screen`. */
  move(x: number, y: number): void;
  button(button: PointerButton, down: boolean): void;
  /** Wheel notches; positive dy scrolls down and positive dx right, as in a DOM WheelEvent. */
  wheel(dx: number, dy: number): void;
  /**
   * KeyboardEvent.code and .key. Returns false, injecting nothing, when the key has no mapping on
   * this desktop; a key release for a code this injector did not press also returns false.
   */
  key(code: string, key: string, down: boolean): boolean;
  /** Types a string as key presses, without leaving any key or modifier down. */
  text(s: string): void;
  /** Releases every key and button this injector holds down. */
  releaseAll(): void;
  /** Releases everything, undoes any keyboard remapping, and disconnects. */
  close(): Promise<void>;
}

/**
 * Normalised to pixel. Coordinates are fractions of the width and height (divide by width, not
 * width - 1: docs/session-protocol.md): pixel i spans [i/size, (i+1)/size), so the pixel is
 * floor(n * size), the pixel under the analyst's pointer wherever inside it the pointer was and
 * whatever the scale of the video it saw. A hair's allowance keeps an exact left edge (i/size,
 * computed in floating point) on pixel i; 1.0, the right edge of the last pixel, lands on it.
 */
export function toPixel(n: number, origin: number, size: number): number {
  const clamped = Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
  return origin + Math.min(size - 1, Math.floor(clamped * size + 1e-9));
}

/**
 * Control cannot work on this machine, and why (common/control/refusals.ts): the bridge answers
 * the end user's Accept with this reason, and the analyst's viewer shows it too.
 */
export class InjectionUnavailableError extends Error {
  constructor(
    readonly reason: ControlRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'InjectionUnavailableError';
  }
}

export class UnsupportedPlatformError extends InjectionUnavailableError {
  constructor(what: string) {
    super('unsupported_platform', `Input injection is not supported on this platform: ${what}`);
    this.name = 'UnsupportedPlatformError';
  }
}

/** The reason to give the end user and the analyst for any error making an injector. */
export function refusalOf(err: unknown): ControlRefusal {
  return err instanceof InjectionUnavailableError ? err.reason : 'injection_unavailable';
}
