import { isAppOrigin } from './app-origin.js';
import type { FrameLike } from './sender-check.js';

/** A screen as desktopCapturer describes it; main picks it, the page never chooses. */
export interface ScreenSource {
  id: string;
  name: string;
  display_id?: string;
}

export interface DisplayMediaRequest {
  frame: FrameLike | null;
  securityOrigin: string;
  videoRequested: boolean;
  audioRequested: boolean;
  userGesture: boolean;
}

export interface DisplayMediaDeps {
  /** The app window's top frame is the only one allowed to capture. */
  isTrustedFrame(frame: FrameLike | null): boolean;
  isCaptureConsented(): boolean;
  /** desktopCapturer.getSources({ types: ['screen'] }). */
  screens(): Promise<ScreenSource[]>;
  onRefused(reason: string): void;
}

/**
 * `session.setDisplayMediaRequestHandler`: the page's getDisplayMedia gets the whole primary
 * screen (the one the consent screen described) and no audio, only from the app's top frame,
 * only after a user gesture, only while the end user's consent covers viewing the screen. The
 * source is chosen here so a page can never pick a window, a tab or another screen by itself.
 */
export function displayMediaRequestHandler(deps: DisplayMediaDeps) {
  return (request: DisplayMediaRequest, callback: (streams: { video: ScreenSource } | null) => void): void => {
    const refuse = (reason: string) => {
      deps.onRefused(reason);
      callback(null);
    };
    if (!request.videoRequested) return refuse('no video requested');
    if (!isAppOrigin(request.securityOrigin) || !deps.isTrustedFrame(request.frame)) return refuse('not the app page');
    if (!request.userGesture) return refuse('no user gesture');
    if (!deps.isCaptureConsented()) return refuse('no consent covers screen capture');
    deps.screens().then(
      (list) => {
        const screen = list[0];
        // Consent may have ended while the system listed screens.
        if (!screen || !deps.isCaptureConsented()) return refuse(screen ? 'consent ended' : 'no screen to capture');
        callback({ video: screen });
      },
      (err: unknown) => refuse(`screens unavailable: ${(err as Error)?.message ?? String(err)}`),
    );
  };
}
