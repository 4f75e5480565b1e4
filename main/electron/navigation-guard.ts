import { isAppPage } from './app-origin.js';

/** A navigation event in either of Electron's forms: `(event, url)` or the event carrying `url`. */
export interface NavigationEvent {
  preventDefault(): void;
  url?: string;
}

/** The slice of WebContents the guard needs (structural, so tests pass a fake). */
export interface GuardedContents {
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' } | { action: 'allow' }): void;
  on(event: 'will-navigate' | 'will-redirect' | 'will-frame-navigate', listener: (event: NavigationEvent, url?: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (event: NavigationEvent) => void): unknown;
}

export type Refusal = { what: 'window-open' | 'navigation' | 'redirect' | 'webview'; url: string };

/**
 * No window of the app opens another window or leaves its page. New windows are denied outright
 * (links the app shows are plain text for the user to copy); any navigation or redirect that is
 * not to the app page itself is cancelled before it starts; a <webview> is never attached even if
 * one were somehow created. Installed on every webContents (`web-contents-created`), not just ours.
 */
export function guardNavigation(contents: GuardedContents, onRefused: (r: Refusal) => void): void {
  contents.setWindowOpenHandler(({ url }) => {
    onRefused({ what: 'window-open', url: clip(url) });
    return { action: 'deny' };
  });
  const guard = (what: 'navigation' | 'redirect') => (event: NavigationEvent, url?: string) => {
    const target = url ?? event.url ?? '';
    if (isAppPage(target)) return;
    event.preventDefault();
    onRefused({ what, url: clip(target) });
  };
  contents.on('will-navigate', guard('navigation'));
  contents.on('will-frame-navigate', guard('navigation'));
  contents.on('will-redirect', guard('redirect'));
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    onRefused({ what: 'webview', url: '' });
  });
}

function clip(url: string): string {
  return String(url).slice(0, 200);
}
