import type { ReactNode } from 'react';
import { chooseDisplay, displayLabel, switchDisplay } from '../flows/displays.js';
import { useAppStore } from '../store.js';
import { h } from './ui.js';

/**
 * The consent screen's line on what is shared: the whole screen where there is one display; with
 * several, which one (the desktop app: chosen here, before Accept; a browser: its own picker asks
 * next, and the banner says which one it was).
 */
export function ConsentDisplay(): ReactNode {
  const displays = useAppStore((s) => s.join.displays);
  const chosen = useAppStore((s) => s.join.displayId);
  const list = displays?.list ?? [];
  if (list.length <= 1) return h('dd', { 'data-testid': 'consent-display' }, list[0] ? `Your whole screen (${list[0].width}×${list[0].height})` : 'Your whole screen');
  if (displays?.picker === 'system') return h('dd', { 'data-testid': 'consent-display' }, `One of your ${list.length} displays, the one you pick when your browser asks next. Only that display is shared; the banner says which.`);
  return h(
    'dd',
    { 'data-testid': 'consent-display' },
    h(
      'fieldset',
      { className: 'display-choice' },
      h('legend', null, `You have ${list.length} displays. They see only the one you choose:`),
      ...list.map((d) =>
        h(
          'label',
          { key: d.id, className: 'display-option' },
          h('input', { type: 'radio', name: 'display', value: d.id, checked: d.id === chosen, onChange: () => chooseDisplay(d.id) }),
          ` Display ${d.index} (${d.width}×${d.height})`,
        ),
      ),
    ),
  );
}

/** The banner: which display is shared and, with several, the way to share another. */
export function BannerDisplay(props: { connected: boolean }): ReactNode {
  const shown = useAppStore((s) => s.live.display);
  const displays = useAppStore((s) => s.join.displays);
  const count = Math.max(shown?.count ?? 0, displays?.list.length ?? 0);
  if (count <= 1) return null;
  const label = shown ? `Sharing display ${shown.index} of ${shown.count}` : 'Sharing one display';
  const others = displays?.picker === 'main' ? (displays.list ?? []).filter((d) => d.id !== shown?.id) : [];
  return h(
    'span',
    { className: 'banner-display' },
    h('span', { 'data-testid': 'banner-display' }, label),
    displays?.picker === 'main'
      ? others.map((d) => h('button', { key: d.id, type: 'button', disabled: !props.connected, onClick: () => void switchDisplay(d.id) }, `Switch to display ${d.index}`))
      : h('button', { type: 'button', disabled: !props.connected, onClick: () => void switchDisplay(null), 'data-testid': 'switch-display' }, 'Switch display…'),
  );
}

/** The analyst's viewer: "Display 2 of 2, 1280×720", as the end user's side said (one display: nothing to tell). */
export function ViewerDisplay(): ReactNode {
  const shown = useAppStore((s) => s.live.display);
  return shown && shown.count > 1 ? h('p', { className: 'viewer-display', 'data-testid': 'viewer-display' }, `Showing the end user's ${displayLabel(shown)}`) : null;
}
