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
    document.addEventListener('focusin', pullBack);
    return () => {
      document.removeEventListener('focusin', pullBack);
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
    if (e.key !== 'Tab') return;
    const d = ref.current;
    if (!d) return;
    // Tab cycles through the banner's controls (Stop) and the dialog's, nothing else.
    const items = [...Array.from(document.querySelectorAll<HTMLElement>(`${ABOVE_DIALOGS} :is(${FOCUSABLE})`)), ...Array.from(d.querySelectorAll<HTMLElement>(FOCUSABLE))];
    if (items.length === 0) {
      e.preventDefault();
      return;
    }
    const first = items[0]!;
    const last = items[items.length - 1]!;
    const at = document.activeElement;
    if (e.shiftKey && (at === first || at === d)) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (at === last || at === d)) {
      e.preventDefault();
      first.focus();
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
