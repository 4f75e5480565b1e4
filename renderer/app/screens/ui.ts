import { createElement, useEffect, useRef, type ReactNode } from 'react';
import { mmss, spokenDuration } from '../format.js';
import { brokerNow, useAppStore } from '../store.js';

/** createElement under a short name: the screens are written without JSX (the repo's tsconfig has no JSX setting). */
export const h = createElement;

/** Re-renders once a second and returns the broker's time as best known. */
export function useNow(): number {
  useAppStore((s) => s.tick);
  return brokerNow();
}

/** A heading that takes focus when its screen appears, so keyboard and screen-reader users land on it. */
export function ScreenHeading(props: { id?: string; children?: ReactNode; level?: 1 | 2 }): ReactNode {
  const ref = useRef<HTMLHeadingElement | null>(null);
  useEffect(() => {
    ref.current?.focus();
  }, []);
  return h(props.level === 2 ? 'h2' : 'h1', { ref, tabIndex: -1, id: props.id, className: 'screen-heading' }, props.children);
}

export function Countdown(props: { until: number; label: string; testId?: string }): ReactNode {
  const now = useNow();
  const left = props.until - now;
  return h(
    'span',
    { className: `countdown${left <= 60_000 ? ' countdown-urgent' : ''}`, 'data-testid': props.testId, 'aria-label': `${props.label}: ${spokenDuration(left)}`, role: 'timer' },
    mmss(left),
  );
}

export function Alert(props: { kind?: 'error' | 'info' | 'warning'; children?: ReactNode; testId?: string }): ReactNode {
  return h('div', { className: `alert alert-${props.kind ?? 'info'}`, role: props.kind === 'error' || props.kind === 'warning' ? 'alert' : 'status', 'data-testid': props.testId }, props.children);
}

export function Field(props: { id: string; label: string; hint?: string; children?: ReactNode }): ReactNode {
  return h(
    'div',
    { className: 'field' },
    h('label', { htmlFor: props.id }, props.label),
    props.hint ? h('p', { className: 'hint', id: `${props.id}-hint` }, props.hint) : null,
    props.children,
  );
}

/** The six-digit verification code, read aloud in groups. */
export function Sas(props: { sas: string | null; testId: string }): ReactNode {
  return h(
    'span',
    { className: 'sas' },
    h('span', { className: 'sas-label' }, 'Verification code '),
    h('strong', { 'data-testid': props.testId, 'aria-live': 'polite' }, props.sas ?? 'waiting…'),
  );
}
