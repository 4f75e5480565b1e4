import { useEffect, type ReactNode } from 'react';
import { EndUserApp } from './screens/end-user.js';
import { StaffApp } from './screens/staff.js';
import { h } from './screens/ui.js';
import { parseJoinInput, displayCode } from './format.js';
import { useAppStore } from './store.js';

/** Hash routes: #/ (the end user), #/join/CODE (a link with the code filled in), #/staff. */
export function applyHash(hash: string): void {
  const s = useAppStore.getState();
  // Only "#/..." is a route; an in-page anchor (the skip link's #main) leaves the screen as it is.
  if (hash !== '' && hash !== '#' && !hash.startsWith('#/')) return;
  const m = /^#\/join\/(.+)$/.exec(hash);
  if (m) {
    s.setRoute('join');
    const code = parseJoinInput(`chaperone://join/${decodeURIComponent(m[1]!)}`);
    if (code && s.join.phase === 'enter') s.setJoin({ code: displayCode(code) });
    return;
  }
  // A machine whose policy leaves out the analyst mode has no staff screens at all.
  s.setRoute(hash.startsWith('#/staff') && s.policy?.analystMode !== false ? 'staff' : 'join');
}

/** Moves focus to the screen's content without touching the address (the hash is the router's). */
function skipToMain(e: { preventDefault(): void }): void {
  e.preventDefault();
  const main = document.getElementById('main');
  const target = main?.querySelector<HTMLElement>('.screen-heading') ?? main;
  if (!target) return;
  if (!target.hasAttribute('tabindex')) target.setAttribute('tabindex', '-1');
  target.focus();
}

export function App(): ReactNode {
  const route = useAppStore((s) => s.route);
  const bump = useAppStore((s) => s.bump);
  const live = useAppStore((s) => s.live.role !== null && s.live.state !== 'ended' && s.live.state !== 'idle');
  const analystMode = useAppStore((s) => s.policy?.analystMode !== false);
  useEffect(() => {
    const t = setInterval(bump, 1000);
    const onHash = () => applyHash(location.hash);
    addEventListener('hashchange', onHash);
    return () => {
      clearInterval(t);
      removeEventListener('hashchange', onHash);
    };
  }, [bump]);
  return h(
    'div',
    { className: 'app' },
    live ? null : h('a', { className: 'skip-link', href: '#main', onClick: skipToMain }, 'Skip to content'),
    h(
      'main',
      { id: 'main', className: 'content' },
      route === 'staff' ? h(StaffApp) : h(EndUserApp),
    ),
    live || !analystMode
      ? null
      : h(
          'footer',
          { className: 'footer' },
          route === 'staff' ? h('a', { href: '#/' }, 'I need help (enter a join code)') : h('a', { href: '#/staff' }, 'Support staff sign in'),
        ),
  );
}
