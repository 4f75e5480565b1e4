import { useRef, useState, type ReactNode } from 'react';
import { h } from './ui.js';

/**
 * Copies a text to the clipboard with a click, and says so. Where the page may not write the
 * clipboard (a browser that refuses it), the text is selected in a read-only field instead and
 * the person is told to press Ctrl+C: never a silent failure.
 */
export function CopyButton(props: { text: string; label: string; testId: string }): ReactNode {
  const [state, setState] = useState<'idle' | 'copied' | 'manual'>('idle');
  const field = useRef<HTMLInputElement | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.text);
      setState('copied');
    } catch {
      setState('manual');
      queueMicrotask(() => field.current?.select());
    }
  };
  return h(
    'span',
    { className: 'copy' },
    h('button', { type: 'button', onClick: () => void copy(), 'data-testid': props.testId }, props.label),
    state === 'copied' ? h('span', { role: 'status', className: 'small' }, ' Copied.') : null,
    state === 'manual'
      ? h(
          'span',
          { className: 'small' },
          h('label', { htmlFor: `${props.testId}-text` }, ' Press Ctrl+C to copy: '),
          h('input', { id: `${props.testId}-text`, ref: field, readOnly: true, value: props.text, className: 'copy-text' }),
        )
      : null,
  );
}
