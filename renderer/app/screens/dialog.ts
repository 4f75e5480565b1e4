import { useEffect, useRef, type KeyboardEvent, type ReactNode } from 'react';
import { h } from './ui.js';

const FOCUSABLE = 'button:not([disabled]), [href], input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
/** What stays reachable above every dialog: the session banner with its countdown and Stop. */
export const ABOVE_DIALOGS = '[data-above-dialogs]';

/**
 * A modal dialog over a dimmed page. Keyboard users cannot wander behind it (Tab and Shift+Tab
 * cycle inside, focus that escapes by any other way is pulled back), Escape does the safe thing
 * the caller names (Deny, No, Cancel), and on close focus goes back to where it was before, so
 * nobody is left at the top of the page. The dialog itself takes focus first: no choice is
 * pre-selected, so an Enter pressed by habit decides nothing. The session banner stays above the
 * dimmed page and inside the Tab cycle: Stop is never behind a dialog.
 */
export function Dialog(props: {
  labelledBy: string;
  describedBy?: string;
  testId: string;
  /** alertdialog for prompts that interrupt (the other side asks for something). */
  alert?: boolean;
  onEscape: () => void;
  children?: ReactNode;
}): ReactNode {
  const ref = useRef<HTMLDivElement | null>(null);
  const onEscape = useRef(props.onEscape);
  onEscape.current = props.onEscape;

  useEffect(() => {
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    ref.current?.focus();
    const pullBack = (e: FocusEvent) => {
      const d = ref.current;
      // Another modal (one is shown at a time, but never fight one) keeps its own focus, and the
      // banner above it (Stop) may always take focus.
      if (!d || !(e.target instanceof Element) || d.contains(e.target) || e.target.closest('[aria-modal="true"]') || e.target.closest(ABOVE_DIALOGS)) return;
      d.focus();
    };
    // Tab cycles through the dialog's controls, then the banner's (Stop), then back: handled on the
    // document, because focus in the banner is outside the dialog's own key handler.
    const cycle = (e: globalThis.KeyboardEvent) => {
      const d = ref.current;
      if (e.key !== 'Tab' || !d || !(e.target instanceof Element)) return;
      if (!d.contains(e.target) && !e.target.closest(ABOVE_DIALOGS)) return;
      const items = [...Array.from(d.querySelectorAll<HTMLElement>(FOCUSABLE)), ...Array.from(document.querySelectorAll<HTMLElement>(`${ABOVE_DIALOGS} :is(${FOCUSABLE})`))];
      e.preventDefault();
      if (items.length === 0) return;
      const at = items.indexOf(document.activeElement as HTMLElement);
      const next = at < 0 ? (e.shiftKey ? items.length - 1 : 0) : (at + (e.shiftKey ? -1 : 1) + items.length) % items.length;
      items[next]!.focus();
    };
    document.addEventListener('focusin', pullBack);
    document.addEventListener('keydown', cycle);
    return () => {
      document.removeEventListener('focusin', pullBack);
      document.removeEventListener('keydown', cycle);
      // After React removed the dialog; the opener may have gone with the screen it was on.
      queueMicrotask(() => {
        if (opener?.isConnected && !opener.hasAttribute('disabled')) opener.focus();
      });
    };
  }, []);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      onEscape.current();
      return;
    }
  };

  return h(
    'div',
    { className: 'overlay' },
    h(
      'div',
      {
        ref,
        role: props.alert ? 'alertdialog' : 'dialog',
        'aria-modal': true,
        'aria-labelledby': props.labelledBy,
        'aria-describedby': props.describedBy,
        className: 'dialog',
        'data-testid': props.testId,
        tabIndex: -1,
        onKeyDown,
      },
      props.children,
    ),
  );
}
