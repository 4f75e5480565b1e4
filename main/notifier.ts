/**
 * A desktop notification from the main process (an approver is told that a request arrived while
 * the app is in the background). A port, so the services run without Electron: the Electron shell
 * passes one backed by its Notification (main/electron/notifications.ts); the browser host passes
 * none, and the page uses the browser's own Notification instead.
 */
export interface DesktopNotice {
  title: string;
  body: string;
  /** A notice with the same tag replaces the one before it (one per request). */
  tag: string;
}

export interface DesktopNotifier {
  /** Whether it was shown: false where the operating system has no notifications. */
  show(n: DesktopNotice): boolean;
}
