import type { ScreenRect } from '../injector.js';
import type { DisplayPort, SharedDisplay } from '../displays.js';
import { inputRect, type DisplayInfo } from '../injectors/desktop-coordinates.js';
import type { TargetOs } from '../injectors/target-os.js';
import type { ScreenSource } from './display-media.js';

/** The slice of Electron's `screen` module the display list needs. */
export interface ElectronScreenLike {
  getAllDisplays(): { id: number; bounds: ScreenRect; scaleFactor: number }[];
  /** Windows: DIP to physical pixels (screen.dipToScreenRect). */
  dipToScreenRect?(window: null, rect: ScreenRect): ScreenRect;
}

function infoOf(d: { bounds: ScreenRect; scaleFactor: number }, s: ElectronScreenLike, os: TargetOs): DisplayInfo {
  return { bounds: d.bounds, scaleFactor: d.scaleFactor, ...(os === 'win32' && s.dipToScreenRect ? { physical: s.dipToScreenRect(null, d.bounds) } : {}) };
}

/**
 * desktopCapturer's screens, each matched to its display (display_id) for the rectangle input
 * lands on, in the same coordinates as the injector made over the whole desktop (desktopInfo).
 */
export class ElectronDisplays implements DisplayPort {
  readonly picker = 'main' as const;

  constructor(
    private readonly screen: ElectronScreenLike,
    private readonly sources: () => Promise<ScreenSource[]>,
    private readonly os: TargetOs,
  ) {}

  async list(): Promise<SharedDisplay[]> {
    const displays = this.screen.getAllDisplays();
    return (await this.sources()).flatMap((src) => {
      const d = displays.find((x) => String(x.id) === src.display_id) ?? (displays.length === 1 ? displays[0] : undefined);
      return d ? [{ id: src.id, rect: inputRect(infoOf(d, this.screen, this.os), this.os) }] : [];
    });
  }
}

/**
 * The whole desktop (every display's rectangle together) as one DisplayInfo for the injector, so
 * that the input gate can place a point on any one display: on macOS global points, on Windows
 * physical pixels (their union), on X11 the root window (which is already the whole desktop).
 */
export function desktopInfo(s: ElectronScreenLike, os: TargetOs): DisplayInfo {
  const all = s.getAllDisplays();
  const union = (rs: ScreenRect[]): ScreenRect => {
    const x = Math.min(...rs.map((r) => r.x));
    const y = Math.min(...rs.map((r) => r.y));
    return { x, y, width: Math.max(...rs.map((r) => r.x + r.width)) - x, height: Math.max(...rs.map((r) => r.y + r.height)) - y };
  };
  const infos = all.map((d) => infoOf(d, s, os));
  const physical = infos.every((i) => i.physical) ? union(infos.map((i) => i.physical!)) : undefined;
  return { bounds: union(all.map((d) => d.bounds)), scaleFactor: all[0]?.scaleFactor ?? 1, ...(physical ? { physical } : {}) };
}
