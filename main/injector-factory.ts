import { UnsupportedPlatformError, type Injector, type ScreenRect } from './injector.js';

export interface CreateInjectorOptions {
  /** X11 display; defaults to $DISPLAY. */
  display?: string;
  /** Defaults to the whole desktop. */
  screen?: ScreenRect;
  onError?: (err: Error) => void;
  env?: NodeJS.ProcessEnv;
}

/**
 * Picks the adapter for the platform the main process runs on. Only the chosen adapter is loaded,
 * and only when control is first granted.
 */
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
