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
 * Normalised to pixel: the analyst sends pixel/size of the frame it saw, so rounding (not flooring)
 * gives the same pixel back despite floating-point error; 1.0 lands on the last pixel.
 */
export function toPixel(n: number, origin: number, size: number): number {
  const clamped = Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
  return origin + Math.min(size - 1, Math.round(clamped * size));
}

export interface CreateInjectorOptions {
  /** X11 display; defaults to $DISPLAY. */
  display?: string;
  /** Defaults to the whole desktop. */
  screen?: ScreenRect;
  onError?: (err: Error) => void;
  env?: NodeJS.ProcessEnv;
}

export class UnsupportedPlatformError extends Error {
  constructor(what: string) {
    super(`Input injection is not supported on this platform yet: ${what}`);
    this.name = 'UnsupportedPlatformError';
  }
}

/** Picks the adapter for the platform the main process runs on. */
export async function createInjector(platform: NodeJS.Platform, opts: CreateInjectorOptions = {}): Promise<Injector> {
  const env = opts.env ?? process.env;
  switch (platform) {
    case 'linux': {
      // XTEST under XWayland reaches only X11 clients, not the Wayland desktop the user sees. An
      // explicit display (a test's Xvfb) is a real X server whatever the session around it is.
      if (!opts.display && (env.XDG_SESSION_TYPE === 'wayland' || (env.WAYLAND_DISPLAY && !env.DISPLAY))) {
        throw new UnsupportedPlatformError('Linux on Wayland (XTEST reaches X11 sessions only)');
      }
      const { createXTestInjector } = await import('./injectors/xtest.js');
      return createXTestInjector({ display: opts.display ?? env.DISPLAY, screen: opts.screen, onError: opts.onError });
    }
    case 'win32': {
      const { createWindowsInjector } = await import('./injectors/windows.js');
      return createWindowsInjector();
    }
    case 'darwin': {
      const { createMacosInjector } = await import('./injectors/macos.js');
      return createMacosInjector();
    }
    case 'aix':
    case 'android':
    case 'freebsd':
    case 'haiku':
    case 'openbsd':
    case 'netbsd':
    case 'sunos':
    case 'cygwin':
      throw new UnsupportedPlatformError(platform);
    default:
      throw new UnsupportedPlatformError(String(platform));
  }
}
