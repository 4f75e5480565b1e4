import { missingCase } from '../missing-case.js';

/**
 * Why the end user's machine cannot be controlled (or its screen not shared) even though the end
 * user said yes. The end user's main process decides the reason; it travels with the answer to
 * the control request (signaling `grant.response` -> `grant.changed`), so the end user and the
 * analyst read the same cause, each in their own words. Never a silent "no".
 */
export const CONTROL_REFUSALS = [
  /** A Wayland desktop: the screen is shared through the desktop portal, input cannot be injected. */
  'view_only_wayland',
  /** macOS without the Accessibility permission for the app: posted events would be dropped silently. */
  'needs_accessibility',
  /** macOS without Screen Recording: captured frames would show only the wallpaper. */
  'needs_screen_recording',
  /** An operating system with no input adapter. */
  'unsupported_platform',
  /** The adapter exists but the desktop could not be reached (no display, native library missing). */
  'injection_unavailable',
] as const;
export type ControlRefusal = (typeof CONTROL_REFUSALS)[number];

export function isControlRefusal(s: string): s is ControlRefusal {
  return (CONTROL_REFUSALS as readonly string[]).includes(s);
}

const ACCESSIBILITY = 'System Settings > Privacy & Security > Accessibility';
const SCREEN_RECORDING = 'System Settings > Privacy & Security > Screen Recording';

/** What the end user reads on their own screen. */
export function refusalForEndUser(r: ControlRefusal): string {
  switch (r) {
    case 'view_only_wayland':
      return 'This computer can be seen but not controlled: Wayland session. The helpdesk sees your screen; you do the clicks and typing they ask for.';
    case 'needs_accessibility':
      return `To let the helpdesk control this Mac, turn on Chaperone in ${ACCESSIBILITY}, then accept the control request again.`;
    case 'needs_screen_recording':
      return `To share this Mac's screen, turn on Chaperone in ${SCREEN_RECORDING}, then quit and reopen Chaperone.`;
    case 'unsupported_platform':
      return 'Remote control is not available on this operating system; the helpdesk can still see your screen.';
    case 'injection_unavailable':
      return 'Control could not be turned on: Chaperone could not reach this desktop. The helpdesk can still see your screen.';
    default:
      return missingCase(r);
  }
}

/** What the analyst's viewer shows when the end user's machine refused. */
export function refusalForAnalyst(r: ControlRefusal): string {
  switch (r) {
    case 'view_only_wayland':
      return 'This computer can be seen but not controlled: Wayland session. Guide the end user through the steps instead.';
    case 'needs_accessibility':
      return `The end user accepted, but their Mac has not allowed Chaperone to control it. They have been told to turn it on in ${ACCESSIBILITY}; ask again once they have.`;
    case 'needs_screen_recording':
      return `The end user's Mac has not allowed Chaperone to record the screen (${SCREEN_RECORDING}); they have been told where to turn it on.`;
    case 'unsupported_platform':
      return "Remote control is not available on the end user's operating system; you can still see the screen.";
    case 'injection_unavailable':
      return "The end user accepted, but their computer could not be controlled (its desktop could not be reached). You can still see the screen.";
    default:
      return missingCase(r);
  }
}

/**
 * Windows' User Interface Privilege Isolation drops input sent to windows of higher integrity
 * without an error; the end user reads this when control starts on Windows.
 */
export const WINDOWS_UIPI_NOTE =
  'The helpdesk can now use your mouse and keyboard, except in windows that run as administrator, User Account Control prompts and the lock screen: Windows does not allow that, so you click those yourself.';

/**
 * Why a grant ended or was not given, as `grant.changed` says it: the machine's refusal, nobody
 * answered in time, or (control) the broker acked no recording chunk for too long while policy
 * requires the session to be recorded (common/recording.ts).
 */
export const GRANT_CHANGE_REASONS = [...CONTROL_REFUSALS, 'timeout', 'recording_stalled'] as const;
export type GrantChangeReason = (typeof GRANT_CHANGE_REASONS)[number];
