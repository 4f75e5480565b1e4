import { isAppPage } from './app-origin.js';

/** The slice of WebFrameMain a sender check reads (structural, so tests pass a fake). */
export interface FrameLike {
  readonly url: string;
  readonly parent: FrameLike | null;
  readonly processId: number;
  readonly routingId: number;
}

/**
 * True only for the app window's own top frame, showing the app page. A subframe, another window
 * or webContents, a frame that navigated elsewhere, or a destroyed frame (null) is refused.
 * Frames are matched by process and routing id, which is how Electron identifies them.
 */
export function isTrustedFrame(frame: FrameLike | null | undefined, appMainFrame: FrameLike | null | undefined): boolean {
  if (!frame || !appMainFrame) return false;
  return frame.parent === null && frame.processId === appMainFrame.processId && frame.routingId === appMainFrame.routingId && isAppPage(frame.url);
}
