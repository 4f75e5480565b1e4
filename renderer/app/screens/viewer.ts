import { useEffect, useRef, useState, type ReactNode } from 'react';
import { onRemoteStream, releaseControl, remoteStream, requestControl, requestExtension, sendInput, stopSession } from '../flows/session.js';
import { StepUpPrompt } from './step-up.js';
import { ViewerDisplay } from './display-choice.js';
import { KeyTranslator, mapPointer } from '../format.js';
import { useAppStore } from '../store.js';
import { ChatPanel } from './end-user.js';
import { ConfirmDialog } from './confirm.js';
import { Dialog } from './dialog.js';
import { PicturePanel } from './picture-panel.js';
import { Alert, Countdown, Field, Sas, h } from './ui.js';
import { ViewerGrantButtons } from './viewer-grants.js';
import { ClipboardPanel } from './clipboard-panel.js';
import { FileOfferPrompt, TransferList } from './transfers.js';
import { PresenceList, suspendedText, waitingForWatcherText } from './presence.js';

const BUTTONS = ['left', 'middle', 'right'] as const;

/** Keys the analyst's own computer would keep for itself (Ctrl+Alt+Del, Alt+Tab, the Windows key), as buttons. */
const SPECIAL_KEYS: readonly { label: string; keys: readonly { code: string; key: string }[] }[] = [
  { label: 'Ctrl+Alt+Del', keys: [{ code: 'ControlLeft', key: 'Control' }, { code: 'AltLeft', key: 'Alt' }, { code: 'Delete', key: 'Delete' }] },
  { label: 'Alt+Tab', keys: [{ code: 'AltLeft', key: 'Alt' }, { code: 'Tab', key: 'Tab' }] },
  { label: 'Windows key', keys: [{ code: 'MetaLeft', key: 'Meta' }] },
  { label: 'Esc', keys: [{ code: 'Escape', key: 'Escape' }] },
];

/** Presses the keys in order and lets them go in reverse, as a person holding them would. */
function pressCombo(keys: readonly { code: string; key: string }[]): void {
  for (const k of keys) sendInput({ t: 'keydown', ...k });
  for (const k of [...keys].reverse()) sendInput({ t: 'keyup', ...k });
}

/**
 * The analyst's view of the end user's screen, scaled to fit (letterboxed, never cropped), with
 * pointer positions mapped back to the shared screen. Pointer and keyboard go to the remote side
 * only while control is granted, and the keyboard only while the screen has focus; Ctrl+] hands
 * the keyboard back to this page.
 */
export function Viewer(): ReactNode {
  const live = useAppStore((s) => s.live);
  const videoRef = useRef<HTMLVideoElement | null>(null);
  const areaRef = useRef<HTMLDivElement | null>(null);
  const endRef = useRef<HTMLButtonElement | null>(null);
  const suspended = live.control?.suspended === true;
  // Suspended by a watcher, the grant stays and the end user's gate is what drops the input: this
  // page keeps sending (it is not what enforces it) and says plainly that nothing lands.
  const granted = live.granted.includes('control') && live.state === 'connected' && !live.controlLocked;
  // Input goes out only once the end user's computer switched control on (its control-live message).
  const control = granted && live.controlLive;
  const waiting = waitingForWatcherText(live.watchersNeeded);
  const [extendOpen, setExtendOpen] = useState(false);
  const [endOpen, setEndOpen] = useState(false);
  const [actualSize, setActualSize] = useState(false);

  useEffect(() => {
    const attach = (s: MediaStream | null) => {
      const v = videoRef.current;
      // The same stream again (a renegotiation, an ICE restart) is left alone: setting it anew
      // resets the element, and on a still screen no new frame may come to fill it for a while.
      if (!v || v.srcObject === s) return;
      v.srcObject = s;
      if (s) void v.play().catch(() => undefined);
    };
    attach(remoteStream());
    return onRemoteStream(attach);
  }, []);

  useEffect(() => {
    const area = areaRef.current;
    const video = videoRef.current;
    if (!control || !area || !video) return;
    const at = (e: { clientX: number; clientY: number }) => mapPointer(e.clientX, e.clientY, video.getBoundingClientRect(), video.videoWidth, video.videoHeight);
    const held = new Set<(typeof BUTTONS)[number]>();
    const keys = new KeyTranslator();
    const move = (e: PointerEvent) => {
      const p = at(e);
      if (p) sendInput({ t: 'move', ...p });
    };
    const down = (e: PointerEvent) => {
      const p = at(e);
      const b = BUTTONS[e.button];
      area.focus();
      if (!p || !b) return;
      e.preventDefault();
      held.add(b);
      sendInput({ t: 'down', button: b, ...p });
    };
    const up = (e: PointerEvent) => {
      const b = BUTTONS[e.button];
      if (!b || !held.has(b)) return;
      const p = at(e) ?? { x: 0, y: 0 };
      e.preventDefault();
      held.delete(b);
      sendInput({ t: 'up', button: b, x: Math.min(1, Math.max(0, p.x)), y: Math.min(1, Math.max(0, p.y)) });
    };
    const wheel = (e: WheelEvent) => {
      e.preventDefault();
      const notch = (d: number) => (d === 0 ? 0 : Math.max(-10, Math.min(10, Math.sign(d) * Math.max(1, Math.round(Math.abs(d) / 100)))));
      const dx = notch(e.deltaX);
      const dy = notch(e.deltaY);
      if (dx || dy) sendInput({ t: 'wheel', dx, dy });
    };
    const keydown = (e: KeyboardEvent) => {
      if (e.ctrlKey && e.code === 'BracketRight') {
        e.preventDefault();
        endRef.current?.focus();
        return;
      }
      if (e.isComposing) return;
      e.preventDefault();
      for (const m of keys.down(e)) sendInput(m);
    };
    const keyup = (e: KeyboardEvent) => {
      e.preventDefault();
      for (const m of keys.up(e)) sendInput(m);
    };
    const release = () => {
      for (const m of keys.releaseAll()) sendInput(m);
      for (const b of held) sendInput({ t: 'up', button: b, x: 0, y: 0 });
      held.clear();
    };
    const menu = (e: Event) => e.preventDefault();
    area.addEventListener('pointermove', move);
    area.addEventListener('pointerdown', down);
    area.addEventListener('pointerup', up);
    area.addEventListener('wheel', wheel, { passive: false });
    area.addEventListener('keydown', keydown);
    area.addEventListener('keyup', keyup);
    area.addEventListener('blur', release);
    area.addEventListener('contextmenu', menu);
    return () => {
      release();
      area.removeEventListener('pointermove', move);
      area.removeEventListener('pointerdown', down);
      area.removeEventListener('pointerup', up);
      area.removeEventListener('wheel', wheel);
      area.removeEventListener('keydown', keydown);
      area.removeEventListener('keyup', keyup);
      area.removeEventListener('blur', release);
      area.removeEventListener('contextmenu', menu);
    };
  }, [control]);

  const connected = live.state === 'connected';
  const warn = live.warnings[live.warnings.length - 1];
  return h(
    'section',
    { className: 'viewer', 'aria-labelledby': 'viewer-title' },
    h(
      'div',
      { className: 'viewer-bar', role: 'toolbar', 'aria-label': 'Session controls' },
      h('h1', { id: 'viewer-title', className: 'viewer-title' }, `Session for ${live.ticket ?? ''}`),
      h('span', null, live.expiresAt !== null ? h(Countdown, { until: live.expiresAt, label: 'Time left', testId: 'viewer-countdown' }) : null, ' left'),
      h(Sas, { sas: live.sas, testId: 'viewer-sas' }),
      h('span', { 'data-testid': 'viewer-state' }, connected ? (suspended && live.granted.includes('control') ? 'Control suspended by a watcher' : control ? 'You have control' : granted ? 'Control allowed: switching on at their computer…' : 'View only') : live.state === 'interrupted' ? 'Reconnecting… control is locked meanwhile' : 'Connecting…'),
      control
        ? h('button', { type: 'button', onClick: releaseControl }, 'Give control back')
        : h(
            'button',
            {
              type: 'button',
              onClick: requestControl,
              disabled: !connected || live.pendingRequest !== null || !live.capabilities.includes('control') || waiting !== null || suspended,
              'aria-describedby': waiting !== null ? 'viewer-watch-wait' : undefined,
              'data-testid': 'request-control',
            },
            live.pendingRequest === 'control' ? 'Waiting for the end user…' : 'Request control',
          ),
      h(ViewerGrantButtons),
      h(
        'button',
        {
          type: 'button',
          // aria-disabled, not disabled: the button keeps focus when the dialog it opened closes.
          onClick: () => live.extensionRequest === null && setExtendOpen(true),
          disabled: !connected,
          'aria-disabled': live.extensionRequest !== null || undefined,
          'data-testid': 'extend',
        },
        live.extensionRequest ? (live.extensionRequest.phase === 'awaiting_approval' ? 'More time: waiting for an approver and the end user…' : 'More time: waiting for the end user…') : 'Extend…',
      ),
      h('button', { type: 'button', ref: endRef, className: 'danger', onClick: () => setEndOpen(true) }, 'End session'),
    ),
    // Large, because the end user asks for it before they give control: read it out to them.
    live.sas && !control
      ? h(
          'p',
          { className: 'code-check viewer-code', 'data-testid': 'viewer-code-check' },
          'Verification code: ',
          h('span', { className: 'sas-large', 'data-testid': 'viewer-sas-large' }, live.sas),
          h('span', null, ' Read it to the end user when they ask. If theirs differs, end the session.'),
        )
      : null,
    warn !== undefined ? h(Alert, { kind: 'warning', testId: 'viewer-warning' }, `The session ends in ${warn >= 120 ? `about ${Math.round(warn / 60)} minutes` : `${warn} seconds`}.`) : null,
    live.notice ? h(Alert, { testId: 'viewer-notice' }, live.notice) : null,
    waiting !== null && live.capabilities.includes('control') ? h('p', { id: 'viewer-watch-wait', className: 'alert alert-info', 'data-testid': 'viewer-watch-wait' }, waiting) : null,
    suspended ? h(Alert, { kind: 'warning', testId: 'viewer-suspended' }, suspendedText(live.control, 'analyst')) : null,
    h(ViewerPresence),
    live.stepUp ? h(StepUpPrompt, { message: live.stepUp.message, capability: live.stepUp.capability }) : null,
    h(ViewerDisplay),
    h(PicturePanel, { connected }),
    h(
      'div',
      { className: 'viewer-main' },
      h(
        'div',
        {
          ref: areaRef,
          className: `screen${control && !suspended ? ' screen-control' : ''}${actualSize ? ' screen-actual' : ''}`,
          tabIndex: 0,
          role: 'application',
          'aria-label': control ? "The end user's screen. You have control: pointer and keys go to their computer. Ctrl+] returns the keyboard to this page." : "The end user's screen (view only)",
          'data-testid': 'remote-screen',
        },
        // Hidden (not removed) while nothing arrives, so a frozen last frame never passes for the live screen.
        h('video', { ref: videoRef, muted: true, autoPlay: true, playsInline: true, 'data-testid': 'remote-video', className: live.hasVideo && !live.sharingPaused ? undefined : 'video-hidden' }),
        live.sharingPaused
          ? h('p', { className: 'screen-empty', 'data-testid': 'screen-empty' }, 'The end user paused sharing: you cannot see their screen until they resume.')
          : live.hasVideo
            ? null
            : h('p', { className: 'screen-empty', 'data-testid': 'screen-empty' }, connected ? 'No picture from the end user’s screen right now.' : 'Waiting for the screen…'),
      ),
      h('div', { className: 'viewer-side' }, h(ClipboardPanel), h(TransferList, { otherSide: 'the end user', side: 'analyst' }), h(ChatPanel, { who: 'End user' })),
    ),
    h(
      'div',
      { className: 'viewer-tools', role: 'group', 'aria-label': 'Screen and keys' },
      h('button', { type: 'button', onClick: () => void areaRef.current?.requestFullscreen?.().catch(() => undefined), 'data-testid': 'fullscreen' }, 'Full screen'),
      h('button', { type: 'button', 'aria-pressed': actualSize, onClick: () => setActualSize(!actualSize), 'data-testid': 'actual-size' }, actualSize ? 'Fit to window' : 'Actual size (1:1)'),
      ...SPECIAL_KEYS.map((k) => h('button', { key: k.label, type: 'button', disabled: !control, onClick: () => pressCombo(k.keys), 'data-testid': `key-${k.label}` }, `Press ${k.label}`)),
    ),
    control
      ? h('p', { className: 'keyboard-hint', 'data-testid': 'keyboard-hint' }, 'While the screen has focus, your keys go to their computer. Press ', h('kbd', null, 'Ctrl'), '+', h('kbd', null, ']'), ' to get your keyboard back on this page.')
      : null,
    live.transfers.some((t) => t.way === 'in' && t.state === 'offered') ? h(FileOfferPrompt, { side: 'analyst' }) : null,
    extendOpen && connected ? h(ExtendDialog, { onClose: () => setExtendOpen(false) }) : null,
    endOpen
      ? h(ConfirmDialog, {
          id: 'end-session',
          title: 'End this session now?',
          body: "You stop seeing the end user's screen, any control you have ends, and the code stops working. To help them again you need a new request.",
          confirm: 'End session now',
          keep: 'Keep the session',
          onConfirm: () => {
            setEndOpen(false);
            void stopSession();
          },
          onKeep: () => setEndOpen(false),
        })
      : null,
  );
}

/** Who else is in the session (the end user sees the same list) and the watchers' notes to you. */
function ViewerPresence(): ReactNode {
  const present = useAppStore((s) => s.live.present);
  const notes = useAppStore((s) => s.live.notes);
  const watching = present.filter((p) => p.kind === 'watcher').length;
  return h(
    'div',
    { className: 'viewer-presence' },
    h('h2', { className: 'small-heading', id: 'viewer-present-title' }, watching === 0 ? 'In this session: you and the end user' : `In this session: you, the end user and ${watching === 1 ? 'one watcher' : `${watching} watchers`}`),
    watching > 0 ? h(PresenceList, { present, audience: 'staff', testId: 'viewer-present', me: 'analyst' }) : null,
    notes.length > 0
      ? h(
          'div',
          { className: 'watch-notes', 'data-testid': 'viewer-notes', role: 'log', 'aria-label': 'Notes from watchers' },
          ...notes.map((n, i) => h('p', { key: i, className: 'alert alert-info' }, 'Note from ', h('bdi', null, n.from), ` at ${new Date(n.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}: `, h('q', null, h('bdi', null, n.text)))),
        )
      : null,
  );
}

const EXTEND_MINUTES = [5, 15, 30];

/** The analyst asks for more time: policy may need an approver again, and the end user decides. */
function ExtendDialog(props: { onClose: () => void }): ReactNode {
  const hardDeadline = useAppStore((s) => s.staff.session?.hard_deadline ?? null);
  const offset = useAppStore((s) => s.clockOffsetMs);
  const [minutes, setMinutes] = useState(15);
  return h(
    Dialog,
    { labelledBy: 'extend-title', describedBy: 'extend-desc', testId: 'extend-dialog', onEscape: props.onClose },
    h('h2', { id: 'extend-title' }, 'Ask for more time'),
    h(
      'p',
      { id: 'extend-desc' },
      'The end user has to agree, and an approver first if policy needs one for this session.',
      hardDeadline !== null ? ` Policy lets this session run until ${new Date(hardDeadline - offset).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })} at the latest.` : '',
    ),
    h(
      'form',
      {
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          requestExtension(minutes);
          props.onClose();
        },
      },
      h(
        Field,
        { id: 'extend-minutes', label: 'More time' },
        h('select', { id: 'extend-minutes', value: minutes, onChange: (e: { target: { value: string } }) => setMinutes(Number(e.target.value)) }, ...EXTEND_MINUTES.map((m) => h('option', { key: m, value: m }, `${m} minutes`))),
      ),
      h('div', { className: 'choice' }, h('button', { type: 'submit', className: 'choice-button accept' }, 'Ask for more time'), h('button', { type: 'button', className: 'choice-button', onClick: props.onClose }, 'Cancel')),
    ),
  );
}
