import { InjectionUnavailableError, UnsupportedPlatformError, type Injector, type ScreenRect } from './injector.js';
import { checkControlPermission, type DesktopPermissions } from './injector-permissions.js';
import type { DisplayInfo } from './injectors/desktop-coordinates.js';

export interface CreateInjectorOptions {
  /** X11 display; defaults to $DISPLAY. */
  display?: string;
  /** X11: the captured screen in root-window pixels; defaults to the whole root window. */
  screen?: ScreenRect;
  /** The display being shared, as Electron's screen module gives it (Windows, macOS). */
  target?: DisplayInfo;
  /** What macOS allows this app (main/injector-permissions.ts); required on macOS. */
  permissions?: DesktopPermissions;
  onError?: (err: Error) => void;
  env?: NodeJS.ProcessEnv;
}

/** The adapter each platform uses; README "Platforms" has the measurements behind it. */
export const ADAPTER_FOR: Readonly<Record<'win32' | 'darwin' | 'linux-x11' | 'linux-wayland', 'libnut' | 'xtest' | 'view-only'>> = {
  win32: 'libnut',
  darwin: 'libnut',
  'linux-x11': 'xtest',
  'linux-wayland': 'view-only',
};

/** A Wayland desktop, where XTEST through XWayland would reach only X11 clients, not what the user sees. */
export function isWaylandSession(env: NodeJS.ProcessEnv): boolean {
  return env.XDG_SESSION_TYPE === 'wayland' || Boolean(env.WAYLAND_DISPLAY && !env.DISPLAY);
}

/**
 * Picks the adapter for the platform the main process runs on. Only the chosen adapter is loaded,
 * and only when control is first granted (the end user's Accept). Every refusal is an
 * InjectionUnavailableError whose reason both sides are shown.
 */
export async function createInjector(platform: NodeJS.Platform, opts: CreateInjectorOptions = {}): Promise<Injector> {
  const env = opts.env ?? process.env;
  switch (platform) {
    case 'linux': {
      // An explicit display (a test's Xvfb) is a real X server whatever the session around it is.
      if (!opts.display && isWaylandSession(env)) {
        // xdg-desktop-portal's RemoteDesktop interface could inject on GNOME and KDE, but needs a
        // D-Bus client and a portal to test against; until then the session is view-only, said so.
        throw new InjectionUnavailableError('view_only_wayland', 'this computer can be seen but not controlled: Wayland session');
      }
      const { createXTestInjector } = await import('./injectors/xtest.js');
      const { inputRect } = await import('./injectors/desktop-coordinates.js');
      const screen = opts.target ? inputRect(opts.target, 'linux') : opts.screen;
      const display = opts.display ?? env.DISPLAY;
      if (!display) throw new InjectionUnavailableError('injection_unavailable', 'no X display to inject into: DISPLAY is not set');
      try {
        return await createXTestInjector({ display, screen, onError: opts.onError });
      } catch (err) {
        throw new InjectionUnavailableError('injection_unavailable', (err as Error).message);
      }
    }
    case 'win32':
    case 'darwin': {
      checkControlPermission(platform, opts.permissions);
      const { createLibnutInjector } = await import('./injectors/libnut-setup.js');
      return createLibnutInjector({ os: platform, display: opts.target });
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
