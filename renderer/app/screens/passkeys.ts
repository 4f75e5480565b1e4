import { useEffect, useState, type ReactNode } from 'react';
import { addPasskey, listPasskeys, removePasskey, type Passkey } from '../flows/passkeys.js';
import { problem } from '../flows/admin.js';
import { Alert, Field, h } from './ui.js';

const when = (ms: number) => new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });

/** The signed-in person's own passkeys: what they confirm it is them with, instead of a code. */
export function PasskeysSection(): ReactNode {
  const [keys, setKeys] = useState<Passkey[] | null>(null);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [note, setNote] = useState<string | null>(null);
  const reload = async () => {
    try {
      setKeys(await listPasskeys());
    } catch (err) {
      setError(problem(err));
    }
  };
  useEffect(() => void reload(), []);
  const act = async (what: () => Promise<string>) => {
    setBusy(true);
    setError(null);
    setNote(null);
    try {
      const said = await what();
      // The notice comes with the list it speaks of, not before it.
      await reload();
      setNote(said);
    } catch (err) {
      setError(problem(err));
    }
    setBusy(false);
  };
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'passkeys-title', 'data-testid': 'passkeys' },
    h('h2', { id: 'passkeys-title' }, 'Passkeys'),
    h('p', { className: 'small' }, 'A passkey on this computer or a security key confirms it is you before you take control, instead of a code from your authenticator app.'),
    keys === null
      ? h('p', null, 'Loading…')
      : keys.length === 0
        ? h('p', { 'data-testid': 'passkeys-none' }, 'You have no passkeys yet.')
        : h(
            'table',
            { 'data-testid': 'passkey-list' },
            h('caption', { className: 'visually-hidden' }, 'Your passkeys'),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Added'), h('th', { scope: 'col' }, 'Last used'), h('th', { scope: 'col' }, h('span', { className: 'visually-hidden' }, 'Actions')))),
            h(
              'tbody',
              null,
              ...keys.map((k) =>
                h(
                  'tr',
                  { key: k.id },
                  h('td', null, h('bdi', null, k.name)),
                  h('td', null, when(k.created_at)),
                  h('td', null, k.last_used_at === null ? 'Not yet' : when(k.last_used_at)),
                  h('td', null, h('button', { type: 'button', disabled: busy, 'aria-label': `Remove passkey ${k.name}`, onClick: () => void act(async () => (await removePasskey(k.id), `Removed ${k.name}.`)) }, 'Remove')),
                ),
              ),
            ),
          ),
    h(
      'form',
      {
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          const n = name.trim();
          if (!n || busy) return;
          void act(async () => {
            const k = await addPasskey(n);
            setName('');
            return `Added ${k.name}. You can use it the next time you are asked to confirm it is you.`;
          });
        },
      },
      h(Field, { id: 'passkey-name', label: 'Name for a new passkey', hint: 'So you can tell them apart, for example Work laptop' }, h('input', { id: 'passkey-name', maxLength: 64, 'aria-describedby': 'passkey-name-hint', value: name, onChange: (e: { target: { value: string } }) => setName(e.target.value) })),
      h('button', { type: 'submit', className: 'primary', disabled: busy || !name.trim() }, busy ? 'Waiting for your passkey…' : 'Add a passkey'),
    ),
    note ? h(Alert, { kind: 'info', testId: 'passkeys-note' }, note) : null,
    error ? h(Alert, { kind: 'error', testId: 'passkeys-error' }, error) : null,
  );
}
