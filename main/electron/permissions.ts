import { APP_PAGE, isAppOrigin, isAppPage } from './app-origin.js';

/**
 * Which browser permissions the page gets: screen capture and nothing else, only for the app's own
 * page in its top frame, only while the end user has consented to a session that shows the screen
 * (MainServices.isCaptureConsented). Camera, microphone, notifications, clipboard, geolocation,
 * HID, serial, USB, MIDI, fullscreen... are all refused, whoever asks.
 */
export interface PermissionDeps {
  isCaptureConsented(): boolean;
  onRefused(r: { permission: string; from: string }): void;
}

export interface PermissionRequestDetails {
  requestingUrl?: string;
  isMainFrame?: boolean;
  /** For 'media' requests: what the page wants; screen capture never asks for audio or a camera. */
  mediaTypes?: readonly string[];
}

/** The one decision both Electron handlers (request and check) make. */
export function decidePermission(permission: string, details: PermissionRequestDetails, deps: PermissionDeps): boolean {
  const from = details.requestingUrl ?? '';
  const ok = permission === 'display-capture' && details.isMainFrame === true && isAppPage(from) && deps.isCaptureConsented();
  if (!ok) deps.onRefused({ permission, from: from.slice(0, 200) });
  return ok;
}

/** `session.setPermissionRequestHandler`. */
export function permissionRequestHandler(deps: PermissionDeps) {
  return (_contents: unknown, permission: string, callback: (granted: boolean) => void, details: PermissionRequestDetails): void => {
    callback(decidePermission(permission, details, deps));
  };
}

/**
 * `session.setPermissionCheckHandler`. A check names an origin rather than a URL, so it is held to
 * the app origin and the top frame; display capture is still tied to consent.
 */
export function permissionCheckHandler(deps: PermissionDeps) {
  return (_contents: unknown, permission: string, requestingOrigin: string, details: { isMainFrame: boolean; requestingUrl?: string }): boolean => {
    if (!isAppOrigin(requestingOrigin)) {
      deps.onRefused({ permission, from: String(requestingOrigin).slice(0, 200) });
      return false;
    }
    return decidePermission(permission, { requestingUrl: details.requestingUrl ?? APP_PAGE, isMainFrame: details.isMainFrame }, deps);
  };
}
