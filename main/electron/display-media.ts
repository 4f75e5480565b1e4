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
  /**
   * The source id the end user chose on the consent screen or the banner (`displays.select`, one
   * main listed), or null: then only a machine with a single screen has one to give.
   */
  chosen(): string | null;
  onRefused(reason: string): void;
}

/**
 * `session.setDisplayMediaRequestHandler`: the page's getDisplayMedia gets one whole screen (the
 * only one, or the one the end user chose, which the consent screen and the banner name) and no
 * audio, only from the app's top frame, only after a user gesture, only while the end user's
 * consent covers viewing the screen. The source is given here so a page can never pick a
 * window, a tab or a screen by itself: with several screens and no choice it gets nothing.
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
        const chosen = deps.chosen();
        const screen = chosen ? list.find((x) => x.id === chosen) : list.length === 1 ? list[0] : undefined;
        if (!screen) return refuse(chosen ? 'the chosen screen is gone' : list.length ? 'no screen chosen among several' : 'no screen to capture');
        // Consent may have ended while the system listed screens.
        if (!deps.isCaptureConsented()) return refuse('consent ended');
        callback({ video: screen });
      },
      (err: unknown) => refuse(`screens unavailable: ${(err as Error)?.message ?? String(err)}`),
    );
  };
}
