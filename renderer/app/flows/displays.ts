import { CAPTURE_FRAME_RATE } from '../../../common/control/quality.js';
import type { DisplayView } from '../../../common/bridge/api.js';
import { getBridge } from '../services.js';
import { useAppStore, type ShownDisplayView } from '../store.js';
import { shareDisplay } from './session.js';

/**
 * Which display the end user shares. In the desktop app main lists the displays and gives the
 * one chosen here to getDisplayMedia (main/electron/display-media.ts): the page names a display
 * main listed and nothing else. In a browser the browser's own picker chooses, and the page tells
 * main which monitor it gave (the track's deviceId), so the analyst's pointer lands on it.
 */

function store() {
  return useAppStore.getState();
}

/** A whole display is what the consent covers: a browser's picker opens on its screens (`displaySurface`). */
export const CAPTURE_CONSTRAINTS: DisplayMediaStreamOptions = { video: { frameRate: { ideal: CAPTURE_FRAME_RATE, max: CAPTURE_FRAME_RATE }, displaySurface: 'monitor' }, audio: false };

/** Read once the offer is shown: the consent screen names the display (or the choice) before Accept. */
export async function loadDisplays(): Promise<void> {
  const r = await getBridge()
    .displays.list()
    .catch(() => null);
  store().setJoin({ displays: r ? { picker: r.picker, list: r.displays } : null, displayId: r?.chosen ?? r?.displays[0]?.id ?? null });
}

/** The consent screen's choice (desktop app, several displays). */
export function chooseDisplay(id: string): void {
  if (store().join.displays?.list.some((d) => d.id === id)) store().setJoin({ displayId: id });
}

/** "Display 2 of 2, 1280×720" */
export function displayLabel(d: { index: number; count: number; width: number; height: number }): string {
  return `Display ${d.index} of ${d.count}, ${d.width}×${d.height}`;
}

function shown(d: DisplayView, count: number): ShownDisplayView {
  return { id: d.id, index: d.index, count, width: d.width, height: d.height };
}

/** Desktop app: before capture, the display main is to give. Null where the browser picks. */
export async function selectBeforeCapture(): Promise<ShownDisplayView | null> {
  const { displays, displayId } = store().join;
  if (displays?.picker !== 'main' || !displayId) return null;
  const r = await getBridge().displays.select({ id: displayId });
  if (!r.ok) throw new Error(`that display is not available (${r.reason})`);
  return shown(r.display, r.count);
}

/** Browser: after capture, which monitor the picker gave (null: a window or tab, or unknown to main). */
export async function confirmAfterCapture(track: MediaStreamTrack | undefined): Promise<ShownDisplayView | null> {
  const id = track?.getSettings().deviceId;
  if (!id || id.length > 64) return null;
  const r = await getBridge()
    .displays.select({ id })
    .catch(() => null);
  return r?.ok ? shown(r.display, r.count) : null;
}

/**
 * The banner's "Switch display": capture the other display (desktop app: the one named; browser:
 * the picker's choice) and send it in place of the current one. Nothing changes on failure, and
 * the end user is told that they still share what they shared.
 */
export async function switchDisplay(id: string | null): Promise<void> {
  const before = store().live.display;
  const bridge = getBridge();
  let media: MediaStream | null = null;
  try {
    if (id) {
      const r = await bridge.displays.select({ id });
      if (!r.ok) throw new Error(r.reason);
    }
    media = await navigator.mediaDevices.getDisplayMedia(CAPTURE_CONSTRAINTS);
    const track = media.getVideoTracks()[0];
    if (!track) throw new Error('no picture');
    let now: ShownDisplayView | null;
    if (id) {
      const r = await bridge.displays.select({ id });
      now = r.ok ? shown(r.display, r.count) : null;
    } else {
      now = await confirmAfterCapture(track);
    }
    if (!(await shareDisplay(track, now))) throw new Error('the session has ended');
    store().setLive({ notice: now ? `You now share ${displayLabel(now)}.` : 'You now share what you picked.' });
  } catch (err) {
    media?.getTracks().forEach((t) => t.stop());
    // The pointer must keep landing on what is still shown.
    if (id && before?.id) await bridge.displays.select({ id: before.id }).catch(() => undefined);
    store().setLive({ notice: `The display was not switched (${(err as Error).name === 'Error' ? (err as Error).message : (err as Error).name}). You still share ${before ? displayLabel(before) : 'the same screen'}.` });
  }
}
