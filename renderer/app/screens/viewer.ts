import { useEffect, useRef, type ReactNode } from 'react';
import { onRemoteStream, releaseControl, remoteStream, requestControl, requestExtension, sendInput, stopSession } from '../flows/session.js';
import { KeyTranslator, mapPointer } from '../format.js';
import { useAppStore } from '../store.js';
import { ChatPanel } from './end-user.js';
import { Alert, Countdown, Sas, h } from './ui.js';

const BUTTONS = ['left', 'middle', 'right'] as const;

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
  const control = live.granted.includes('control') && live.state === 'connected' && !live.controlLocked;

  useEffect(() => {
    const attach = (s: MediaStream | null) => {
      const v = videoRef.current;
      if (!v) return;
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
      h('span', { 'data-testid': 'viewer-state' }, connected ? (control ? 'You have control' : 'View only') : live.state === 'interrupted' ? 'Interrupted: control locked' : 'Connecting…'),
      control
        ? h('button', { type: 'button', onClick: releaseControl }, 'Give control back')
        : h('button', { type: 'button', onClick: requestControl, disabled: !connected || live.pendingRequest !== null || !live.capabilities.includes('control'), 'data-testid': 'request-control' }, live.pendingRequest ? 'Waiting for the end user…' : 'Request control'),
      h('button', { type: 'button', onClick: () => requestExtension(15), disabled: !connected }, 'Extend 15 min'),
      h('button', { type: 'button', ref: endRef, className: 'danger', onClick: () => void stopSession() }, 'End session'),
    ),
    warn !== undefined ? h(Alert, { kind: 'warning', testId: 'viewer-warning' }, `The session ends in ${warn >= 120 ? `about ${Math.round(warn / 60)} minutes` : `${warn} seconds`}.`) : null,
    live.notice ? h(Alert, { testId: 'viewer-notice' }, live.notice) : null,
    h(
      'div',
      { className: 'viewer-main' },
      h(
        'div',
        {
          ref: areaRef,
          className: `screen${control ? ' screen-control' : ''}`,
          tabIndex: 0,
          role: 'application',
          'aria-label': control ? "The end user's screen. You have control: pointer and keys go to their computer. Ctrl+] returns the keyboard to this page." : "The end user's screen (view only)",
          'data-testid': 'remote-screen',
        },
        // Hidden (not removed) while nothing arrives, so a frozen last frame never passes for the live screen.
        h('video', { ref: videoRef, muted: true, autoPlay: true, playsInline: true, 'data-testid': 'remote-video', className: live.hasVideo ? undefined : 'video-hidden' }),
        live.hasVideo ? null : h('p', { className: 'screen-empty', 'data-testid': 'screen-empty' }, connected ? 'The end user is not sharing their screen right now (paused).' : 'Waiting for the screen…'),
      ),
      h(ChatPanel, { who: 'End user' }),
    ),
  );
}
