import type { ControlRefusal } from '../common/control/refusals.js';
import { InjectionUnavailableError } from './injector.js';

/**
 * What the OS allows this app on the desktop. Only macOS asks: without Accessibility, posted input
 * events are dropped without an error; without Screen Recording, a capture shows only the
 * wallpaper and the app's own windows. Both fail silently at the OS level, so main asks before
 * it claims either works, and says where to turn them on (common/control/refusals.ts).
 *
 * Windows asks nothing, but its User Interface Privilege Isolation (UIPI) drops input sent to a
 * window of higher integrity (an app run as administrator, Task Manager, a UAC prompt, the
 * sign-in and lock screens, which are on the secure desktop) without an error either; that is
 * said in the docs and in what the end user reads when control starts (common/control/refusals.ts
 * WINDOWS_UIPI_NOTE).
 */
export interface DesktopPermissions {
  /** macOS Accessibility for this app; `prompt` lets macOS show its own dialog with a button to the setting. */
  accessibility(prompt: boolean): boolean;
  screenRecording(): 'granted' | 'denied' | 'restricted' | 'not-determined' | 'unknown';
}

/** The slice of Electron's systemPreferences that answers (main/electron/ passes it in). */
export interface SystemPreferencesLike {
  isTrustedAccessibilityClient(prompt: boolean): boolean;
  getMediaAccessStatus(mediaType: 'screen'): string;
}

export function electronDesktopPermissions(sp: SystemPreferencesLike): DesktopPermissions {
  return {
    accessibility: (prompt) => sp.isTrustedAccessibilityClient(prompt),
    screenRecording: () => {
      const s = sp.getMediaAccessStatus('screen');
      return s === 'granted' || s === 'denied' || s === 'restricted' || s === 'not-determined' ? s : 'unknown';
    },
  };
}

/**
 * Called when the end user accepts control. On macOS without the Accessibility permission it
 * lets macOS show its prompt and refuses with the reason both sides read; it refuses too when no
 * one can ask (a Mac host without Electron), because an unchecked Mac fails silently.
 */
export function checkControlPermission(platform: NodeJS.Platform, perms: DesktopPermissions | undefined): void {
  if (platform !== 'darwin') return;
  if (!perms) throw new InjectionUnavailableError('injection_unavailable', 'cannot tell whether macOS allows this app to control the computer (no Electron systemPreferences to ask)');
  if (!perms.accessibility(true)) {
    throw new InjectionUnavailableError('needs_accessibility', 'macOS has not given Chaperone the Accessibility permission (System Settings > Privacy & Security > Accessibility)');
  }
}

/**
 * Whether screen sharing must be refused: macOS with Screen Recording denied. "not-determined"
 * is allowed through, since the capture itself makes macOS ask.
 */
export function captureRefusal(platform: NodeJS.Platform, perms: DesktopPermissions | undefined): ControlRefusal | null {
  if (platform !== 'darwin' || !perms) return null;
  const s = perms.screenRecording();
  return s === 'denied' || s === 'restricted' ? 'needs_screen_recording' : null;
}
