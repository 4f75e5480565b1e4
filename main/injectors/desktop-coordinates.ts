import { missingCase } from '../../common/missing-case.js';
import type { ScreenRect } from '../injector.js';
import type { TargetOs } from './target-os.js';

/**
 * The display being shared, as Electron's `screen` module describes it: bounds in DIP (device
 * independent pixels) on a desktop where a display may start away from 0,0 (left of or above the
 * primary one, so negative), and its scale factor.
 */
export interface DisplayInfo {
  bounds: ScreenRect;
  scaleFactor: number;
  /**
   * Windows only: the same rectangle in physical pixels (Electron's screen.dipToScreenRect).
   * With monitors of different scales, physical origins are not DIP origins times a scale.
   */
  physical?: ScreenRect;
}

/**
 * The shared display in the coordinates the platform's input API takes, so that toPixel() of a
 * normalised point lands where the analyst pointed:
 * - macOS: points, the global space CGEvent uses. A Retina display at 2x has twice the pixels in
 *   the captured frame, but the same points: its DIP bounds, unscaled.
 * - Windows: physical pixels. Electron's main process is per-monitor DPI aware, so libnut's
 *   SendInput coordinates and GetSystemMetrics are physical: at 150% a 1707x960 DIP display is
 *   2560x1440.
 * - Linux X11: root window pixels, DIP times Electron's one global scale factor.
 */
export function inputRect(d: DisplayInfo, os: TargetOs): ScreenRect {
  const scale = Number.isFinite(d.scaleFactor) && d.scaleFactor > 0 ? d.scaleFactor : 1;
  switch (os) {
    case 'darwin':
      return { ...d.bounds };
    case 'win32':
      if (d.physical) return { ...d.physical };
      return scaled(d.bounds, scale);
    case 'linux':
      return scaled(d.bounds, scale);
    default:
      return missingCase(os);
  }
}

function scaled(r: ScreenRect, scale: number): ScreenRect {
  return { x: Math.round(r.x * scale), y: Math.round(r.y * scale), width: Math.round(r.width * scale), height: Math.round(r.height * scale) };
}
