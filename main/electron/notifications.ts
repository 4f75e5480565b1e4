import type { DesktopNotice, DesktopNotifier } from '../notifier.js';

/** The slice of Electron's Notification this uses (structural, so tests pass a fake class). */
export interface NotificationLike {
  show(): void;
  close(): void;
  on(event: 'click', listener: () => void): unknown;
}
export interface NotificationClass {
  new (o: { title: string; body: string; silent?: boolean }): NotificationLike;
  isSupported(): boolean;
}

/**
 * Electron's Notification behind the DesktopNotifier port. A notice replaces the one shown
 * before it under the same tag; clicking one brings the app's window forward, where the request
 * waits. The text arrives through the bridge's schema (bounded, no control or bidi characters).
 */
export function electronNotifier(Notification: NotificationClass, focusWindow: () => void): DesktopNotifier {
  const shown = new Map<string, NotificationLike>();
  return {
    show(n: DesktopNotice): boolean {
      if (!Notification.isSupported()) return false;
      shown.get(n.tag)?.close();
      const note = new Notification({ title: n.title, body: n.body });
      note.on('click', focusWindow);
      shown.set(n.tag, note);
      // Bounded: only the latest few can still be clicked.
      if (shown.size > 20) {
        const first = shown.keys().next().value;
        if (first !== undefined) shown.delete(first);
      }
      note.show();
      return true;
    },
  };
}
