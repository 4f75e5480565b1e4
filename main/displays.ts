import type { DisplayView } from '../common/bridge/api.js';
import type { ScreenRect } from './injector.js';

/**
 * A display this machine can share: the capture source's id (`screen:N:0`, what desktopCapturer
 * and Chromium's picker call it) and its rectangle in the injector's desktop pixels, so that a
 * point on the analyst's picture of it lands on it.
 */
export interface SharedDisplay {
  id: string;
  rect: ScreenRect;
}

/** Where main learns the displays: Electron's desktopCapturer and screen, or the X server's monitors. */
export interface DisplayPort {
  readonly picker: 'main' | 'system';
  list(): Promise<SharedDisplay[]>;
}

/** Left to right, then top to bottom: "Display 1" is the one the end user sees on the left. */
export function inDeskOrder(list: SharedDisplay[]): SharedDisplay[] {
  return [...list].sort((a, b) => a.rect.x - b.rect.x || a.rect.y - b.rect.y || a.id.localeCompare(b.id));
}

export function viewOf(list: SharedDisplay[], d: SharedDisplay): DisplayView {
  return { id: d.id, index: list.indexOf(d) + 1, width: d.rect.width, height: d.rect.height };
}

/**
 * A normalised coordinate on the shown display (0..1 of its width) as a normalised coordinate of
 * the injector's whole desktop, through the centre of the display's pixel under it: the injector's
 * toPixel then lands on exactly that pixel, never on the neighbouring monitor's first column.
 */
export function onDesktop(n: number, shownOrigin: number, shownSize: number, deskOrigin: number, deskSize: number): number {
  const clamped = Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
  const px = Math.min(shownSize - 1, Math.floor(clamped * shownSize + 1e-9));
  return (shownOrigin - deskOrigin + px + 0.5) / deskSize;
}
