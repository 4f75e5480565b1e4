import { useEffect, useRef, useState, type ReactNode, type RefObject } from 'react';
import { ageText } from '../../../common/step-up.js';
import { CAPABILITY_SENTENCES, isCapability, isGrantable, type Capability } from '../../../common/capabilities.js';
import { allowsWay, grantWording } from '../../../common/grant-direction.js';
import { RECORDING_SENTENCES } from '../../../common/recording.js';
import { watchSentence } from '../../../common/watch.js';
import { acceptOffer, declineOffer, redeemCode, startOver } from '../flows/join.js';
import { answerControl, answerExtension, codesDiffer, confirmCodeAndAllow, needsCodeCheck, pauseSharing, sendChat, stopSession, takeBack } from '../flows/session.js';
import { END_REASON_TEXT, endText, nothingWasShared, type ShownEndReason } from '../end-reasons.js';
import { GRANT_NAMES, durationText, listText, mfaFreshness, mmss, ssoVerificationText, verificationText } from '../format.js';
import { brokerNow, useAppStore } from '../store.js';
import { missingCase } from '../../../common/missing-case.js';
import { CopyButton } from './copy.js';
import { Dialog } from './dialog.js';
import { FileOfferPrompt, SendFileButton, TransferList } from './transfers.js';
import { Alert, Countdown, Field, ScreenHeading, Sas, h, useNow } from './ui.js';
import { BrandMark, HelpLine, useBrandName } from './branding.js';
import { loadBranding } from '../flows/branding.js';
import { PresenceList, suspendedText, watchers, watchingLine } from './presence.js';
import { BannerDisplay, ConsentDisplay } from './display-choice.js';

// ---------------------------------------------------------------- code entry

export function JoinScreen(): ReactNode {
  const join = useAppStore((s) => s.join);
  const setJoin = useAppStore((s) => s.setJoin);
  const managed = useAppStore((s) => s.policy?.managed);
  const brand = useBrandName();
  const busy = join.phase === 'redeeming';
  // A broken machine policy refuses every session (main enforces it); say why instead of asking for a code.
  if (managed?.status === 'invalid') {
    return h(
      'section',
      { className: 'card narrow', 'aria-labelledby': 'join-title' },
      h(ScreenHeading, { id: 'join-title' }, 'Remote support is not available on this computer'),
      h(Alert, { kind: 'error', testId: 'machine-policy-invalid' }, managed.message ?? 'The machine policy could not be read.'),
      h('p', null, 'Please contact your IT helpdesk and tell them the message above.'),
    );
  }
  return h(
    'section',
    { className: 'card narrow', 'aria-labelledby': 'join-title' },
    h(BrandMark),
    h(ScreenHeading, { id: 'join-title' }, brand ? h('span', null, 'Get help from ', h('bdi', null, brand)) : 'Get help from your IT team'),
    h('p', null, 'The person helping you will read you a join code. Type it here, or paste the chaperone://join link they sent you.'),
    h(
      'form',
      {
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          void redeemCode(join.code);
        },
        noValidate: true,
      },
      h(
        Field,
        { id: 'join-code', label: 'Join code', hint: '10 letters and digits, like 7KQ2M-XW9PC' },
        h('input', {
          id: 'join-code',
          name: 'code',
          value: join.code,
          autoComplete: 'off',
          autoCapitalize: 'characters',
          spellCheck: false,
          'aria-describedby': join.error ? 'join-code-hint join-error' : 'join-code-hint',
          'aria-invalid': join.error ? true : undefined,
          onChange: (e: { target: { value: string } }) => setJoin({ code: e.target.value, error: null }),
          className: 'code-input',
        }),
      ),
      join.error ? h('div', { id: 'join-error' }, h(Alert, { kind: 'error', testId: 'join-error' }, join.error)) : null,
      h('button', { type: 'submit', className: 'primary', disabled: busy }, busy ? 'Checking…' : 'Continue'),
    ),
    h('p', { className: 'small' }, 'Nothing is shared until you have seen who is asking and pressed Accept.'),
    h(HelpLine),
  );
}

// ---------------------------------------------------------------- consent

/** Whether pictures may go through the clipboard in this session: the signed offer allows them and this machine's policy does not forbid them. */
function clipboardImagesNow(): boolean {
  const s = useAppStore.getState();
  return s.join.offerView?.clipboard_images === true && s.policy?.clipboardImagesDenied !== true;
}

export function ConsentScreen(): ReactNode {
  const join = useAppStore((s) => s.join);
  const now = useNow();
  const v = join.offerView;
  if (!v) return null;
  // At 00:00 the offer is gone (the broker ends it as not answered): no live Accept stays behind.
  if (join.phase === 'consent' && join.offerExpiresAt !== null && now >= join.offerExpiresAt) return h(OfferLapsed, { why: 'expired' });
  const starting = join.phase === 'starting';
  const caps = v.capabilities as Capability[];
  const images = clipboardImagesNow();
  return h(
    'section',
    { className: 'card consent', 'aria-labelledby': 'consent-title' },
    h(BrandMark),
    h(ScreenHeading, { id: 'consent-title' }, iso(v.analyst.name), ' wants to see your screen'),
    h(
      'dl',
      { className: 'facts' },
      h('dt', null, 'Who'),
      h('dd', { 'data-testid': 'consent-who' }, iso(v.analyst.name), ' (', iso(v.analyst.username), '), ', iso(v.analyst.organisation), v.analyst.kind !== 'internal' ? h('span', { className: 'badge' }, v.analyst.kind === 'vendor' ? 'outside vendor' : 'incident responder') : null),
      h('dt', null, 'How they were checked'),
      h('dd', { 'data-testid': 'consent-verification' }, v.verification.method === 'sso' ? ssoVerificationText(v.verification, now) : `${verificationText(v.verification.method)}; ${mfaFreshness(v.verification.mfa_at, now)}`),
      h('dt', null, 'Ticket'),
      h('dd', { 'data-testid': 'consent-ticket' }, iso(v.ticket)),
      h('dt', null, 'Why'),
      h('dd', { 'data-testid': 'consent-reason' }, iso(v.reason)),
      h('dt', null, 'For how long'),
      h('dd', { 'data-testid': 'consent-duration' }, `Up to ${durationText(v.duration_s)}, from when you accept. You can stop at any time.`),
      h('dt', null, 'Screen shared'),
      h(ConsentDisplay),
      h('dt', null, 'Recorded'),
      h('dd', { 'data-testid': 'consent-recording' }, RECORDING_SENTENCES[v.recording]),
      h('dt', null, 'Watching'),
      h('dd', { 'data-testid': 'consent-watchers' }, watchSentence(v.watchers)),
      h('dt', null, 'Checked by'),
      // The organisation as it names itself to end users (signed in the offer with the rest).
      h('dd', null, iso(v.branding?.name ?? v.org), " (the offer is signed by your organisation's support broker)"),
    ),
    h('h2', null, 'What accepting allows'),
    h(
      'ul',
      { className: 'caps', 'data-testid': 'consent-capabilities' },
      ...caps.map((c) =>
        h(
          'li',
          { key: c, 'data-capability': c },
          h('strong', null, isCapability(c) ? CAPABILITY_NAMES[c] : iso(c)),
          h('span', { className: 'cap-when' }, isGrantable(c) ? ' — not now; only if you allow it later' : ' — when you accept'),
          h('br'),
          CAPABILITY_SENTENCES[c],
          c === 'clipboard' ? h('span', { 'data-testid': 'consent-clipboard-images' }, images ? ' Text and pictures may be copied.' : ' Only text may be copied, never pictures or files.') : null,
        ),
      ),
    ),
    h(HelpLine),
    join.error ? h(Alert, { kind: 'error', testId: 'consent-error' }, join.error) : null,
    // The decision and its countdown stay in view at any window size (sticky at the bottom), so
    // nobody has to find them below the fold while the offer runs out.
    h(
      'div',
      { className: 'decision', 'data-testid': 'consent-decision' },
      h(
        'div',
        { className: 'choice' },
        h('button', { type: 'button', className: 'choice-button accept', onClick: () => void acceptOffer(), disabled: starting }, starting ? 'Starting…' : 'Accept and share my screen'),
        h('button', { type: 'button', className: 'choice-button decline', onClick: () => void declineOffer(), disabled: starting }, 'Decline'),
      ),
      join.offerExpiresAt ? h('p', { className: 'small decision-time', 'data-testid': 'offer-countdown' }, 'This offer expires in ', h(Countdown, { until: join.offerExpiresAt, label: 'Offer expires in' }), '.') : null,
    ),
  );
}

/** The offer can no longer be answered: its time ran out, or the request was withdrawn meanwhile. */
export function OfferLapsed(props: { why: 'expired' | 'withdrawn' }): ReactNode {
  return h(
    'section',
    { className: 'card narrow', 'aria-labelledby': 'lapsed-title', 'data-testid': 'offer-lapsed', 'data-why': props.why },
    h(ScreenHeading, { id: 'lapsed-title' }, props.why === 'expired' ? 'This offer has expired' : 'This request is no longer open'),
    h(
      'p',
      null,
      props.why === 'expired'
        ? 'You did not answer in time, so nothing was shared and nothing was switched on. If you still need help, ask the person helping you for a new code.'
        : 'The person helping you withdrew the request, or it ended, before you answered. Nothing was shared and nothing was switched on.',
    ),
    h('button', { type: 'button', className: 'primary', onClick: startOver, 'data-testid': 'enter-new-code' }, 'Enter a new code'),
  );
}

/** What each capability is called on the consent screen. */
const CAPABILITY_NAMES: Record<Capability, string> = {
  view: 'See your screen',
  control: 'Control your mouse and keyboard',
  clipboard: 'Use your clipboard',
  files: 'Transfer files',
  chat: 'Chat',
};

/**
 * A string from the broker (or the other side), shown isolated: text in a right-to-left script, or
 * one carrying direction marks, cannot reorder the words around it. A capability name this build
 * does not know is shown this way too: as it came, never hidden from the end user.
 */
function iso(s: string | null | undefined): ReactNode {
  return h('bdi', null, s ?? '');
}

// ---------------------------------------------------------------- the live session

/** Always visible while a session runs: who, what they can do now, time left, the code, Pause, Stop. */
export function SessionBanner(): ReactNode {
  const live = useAppStore((s) => s.live);
  const now = useNow();
  const left = live.expiresAt !== null ? live.expiresAt - now : 0;
  const can = [
    'see your screen',
    ...(live.granted.includes('control') ? ['control your mouse and keyboard'] : []),
    ...(['clipboard', 'files'] as const).filter((k) => live.granted.includes(k)).map((k) => grantWording(k, live.grantDirections[k] ?? null, { images: clipboardImagesNow() }).action),
  ];
  const connected = live.state === 'connected';
  const ref = useBannerHeight();
  const panicChord = useAppStore((s) => s.policy?.panicChord === true);
  const [helpOpen, setHelpOpen] = useState(false);
  // A consent fact (the signed offer says it): shown for the whole session.
  const recording = useAppStore((s) => s.join.offerView?.recording ?? null);
  return h(
    'section',
    { ref, className: `banner${left <= 60_000 ? ' banner-urgent' : ''}`, role: 'region', 'aria-label': 'Support session banner', 'data-testid': 'banner', 'data-above-dialogs': '' },
    h(
      'div',
      { className: 'banner-line' },
      h('span', { className: 'banner-time' }, live.expiresAt !== null ? h(Countdown, { until: live.expiresAt, label: 'Time left', testId: 'banner-countdown' }) : '--:--', h('span', { className: 'small' }, ' left')),
      h(
        'span',
        { className: 'banner-who', 'data-testid': 'banner-who' },
        ...(connected
          ? [iso(live.peerName ?? 'Support'), ...(live.peerOrg ? [' (', iso(live.peerOrg), ')'] : []), ' is connected']
          : live.state === 'interrupted'
            ? ['Connection interrupted: control is locked']
            : ['Waiting for ', iso(live.peerName ?? 'support'), ' to connect…']),
      ),
      h('span', { className: 'banner-can', 'data-testid': 'banner-can' }, live.control?.suspended && live.granted.includes('control') ? flowing(live.state, live.sharingPaused, can.filter((c) => c !== 'control your mouse and keyboard')) + ' (control suspended)' : flowing(live.state, live.sharingPaused, can)),
      watchers(live.present).length > 0 ? h('span', { className: 'banner-watchers', 'data-testid': 'banner-watchers' }, watchingLine(live.present)) : null,
      recording && recording !== 'off' ? h('span', { className: 'banner-recording', 'data-testid': 'banner-recording' }, '● Recorded') : null,
      h(Sas, { sas: live.sas, testId: 'banner-sas' }),
      h(
        'span',
        { className: 'banner-actions' },
        // Only while the end user allowed files to leave this computer, and only what they pick.
        connected && live.granted.includes('files') && allowsWay(live.grantDirections.files, 'from_end_user') ? h(SendFileButton) : null,
        h(BannerDisplay, { connected }),
        h('button', { type: 'button', onClick: () => void pauseSharing(!live.sharingPaused), disabled: !connected }, live.sharingPaused ? 'Resume sharing' : 'Pause sharing'),
        h('button', { type: 'button', 'aria-expanded': helpOpen, 'aria-controls': 'banner-help', onClick: () => setHelpOpen(!helpOpen) }, 'Help'),
        h('button', { type: 'button', className: 'danger', onClick: () => void stopSession(), 'data-testid': 'stop' }, 'Stop'),
      ),
    ),
    helpOpen ? h(BannerHelp, { panic: panicChord }) : null,
  );
}

/** The banner's help: how to end the session, also when the mouse or keyboard is not yours right now. */
function BannerHelp(props: { panic: boolean }): ReactNode {
  return h(
    'div',
    { id: 'banner-help', className: 'banner-help', 'data-testid': 'banner-help' },
    h('p', null, h('strong', null, 'Stop'), ' ends the session at once: sharing and any control end on this computer, whatever the other side does.'),
    props.panic
      ? h('p', { 'data-testid': 'panic-chord' }, 'If you cannot reach Stop (someone else is moving your mouse), press ', h('kbd', null, 'Ctrl'), '+', h('kbd', null, 'Alt'), '+', h('kbd', null, 'Shift'), '+', h('kbd', null, 'End'), ' together: it stops the session from anywhere.')
      : null,
    h('p', null, h('strong', null, 'Pause sharing'), ' hides your screen until you resume. If you allowed control, ', h('strong', null, 'Take control back'), ' ends it and keeps the session.'),
    h(HelpLine),
  );
}

/**
 * Publishes the banner's height as --banner-h, so a dialog's dimmed overlay starts below it and
 * never covers the countdown or Stop, whatever the window size or zoom.
 */
function useBannerHeight(): RefObject<HTMLElement | null> {
  const ref = useRef<HTMLElement | null>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const root = document.documentElement;
    const publish = () => root.style.setProperty('--banner-h', `${Math.ceil(el.getBoundingClientRect().height)}px`);
    publish();
    const ro = new ResizeObserver(publish);
    ro.observe(el);
    return () => {
      ro.disconnect();
      root.style.removeProperty('--banner-h');
    };
  }, []);
  return ref;
}

/** What is really reaching the other side right now, in the banner's words. */
function flowing(state: string, paused: boolean, can: string[]): string {
  if (paused) return 'Sharing paused: they cannot see your screen';
  if (state === 'connected') return `They can ${listText(can)}`;
  if (state === 'interrupted') return 'They may see a frozen picture until the connection is back';
  return 'Nothing is shared until they connect';
}

export function LiveScreen(): ReactNode {
  const live = useAppStore((s) => s.live);
  const warn = live.warnings[live.warnings.length - 1];
  return h(
    'section',
    { className: 'card', 'aria-labelledby': 'live-title' },
    h(ScreenHeading, { id: 'live-title' }, live.sharingPaused ? 'Sharing is paused' : 'You are sharing your screen'),
    h('p', null, 'Ticket ', iso(live.ticket), '. Read the verification code in the banner aloud with ', iso(live.peerName ?? 'the person helping you'), ': if your codes differ, press Stop.'),
    warn !== undefined ? h(Alert, { kind: 'warning', testId: 'expiry-warning' }, warn >= 120 ? `This session ends in about ${Math.round(warn / 60)} minutes.` : `This session ends in ${warn} seconds.`) : null,
    live.notice ? h(Alert, { testId: 'notice' }, live.notice) : null,
    live.control?.suspended ? h(Alert, { kind: 'warning', testId: 'control-suspended' }, suspendedText(live.control, 'end_user')) : null,
    watchers(live.present).length > 0
      ? h('div', { className: 'present-card', 'data-testid': 'present' }, h('h2', { className: 'small-heading' }, 'Who is in this session'), h(PresenceList, { present: live.present, audience: 'end_user', testId: 'present-list' }))
      : null,
    live.granted.includes('control')
      ? h(
          'div',
          { className: 'control-on', 'data-testid': 'control-on' },
          h('p', null, h('strong', null, iso(live.peerName ?? 'They'), ' can control your mouse and keyboard.')),
          h('button', { type: 'button', className: 'primary', onClick: () => void takeBack('control'), 'data-testid': 'take-back' }, 'Take control back'),
        )
      : h(
          'p',
          { 'data-testid': 'control-off' },
          live.sharingPaused
            ? 'They see nothing of your screen and cannot control it. Press "Resume sharing" in the banner when you are ready.'
            : 'They can see your screen but cannot control it. They have to ask, and you decide.',
        ),
    h(DataGrants, { who: live.peerName ?? 'They' }),
    h(TransferList, { otherSide: live.peerName ?? 'Support', side: 'end_user' }),
    h(ChatPanel, { who: live.peerName ?? 'Support' }),
    // One dialog at a time: the request for more time waits until control has been answered.
    live.controlRequest ? h(ControlPrompt) : live.transfers.some((t) => t.way === 'in' && t.state === 'offered') ? h(FileOfferPrompt, { side: 'end_user' }) : live.extensionOffer ? h(ExtensionPrompt) : null,
  );
}

/** Clipboard and files while they are on: what exactly they allow, and the switch to turn each off. */
function DataGrants(props: { who: string }): ReactNode {
  const live = useAppStore((s) => s.live);
  const on = (['clipboard', 'files'] as const).filter((k) => live.granted.includes(k));
  if (on.length === 0) return null;
  return h(
    'ul',
    { className: 'data-grants', 'data-testid': 'data-grants' },
    ...on.map((k) =>
      h(
        'li',
        { key: k, 'data-testid': `${k}-on` },
        h('strong', null, iso(props.who), ` can ${grantWording(k, live.grantDirections[k] ?? null, { images: clipboardImagesNow() }).action}.`),
        ' ',
        h('button', { type: 'button', onClick: () => void takeBack(k), 'data-testid': `${k}-off` }, k === 'clipboard' ? 'Switch clipboard off' : 'Switch file transfer off'),
      ),
    ),
  );
}

/** How the analyst confirmed, as the signed offer says they sign in: their provider, or their authenticator. */
function confirmedWith(v: { method: string; issuer?: string | undefined } | undefined): string {
  if (v?.method === 'sso' && v.issuer) {
    let host = v.issuer;
    try {
      host = new URL(v.issuer).host;
    } catch {
      // Shown as the offer has it.
    }
    return `at their organisation's identity provider (${host})`;
  }
  return 'with their authenticator';
}

export function ControlPrompt(): ReactNode {
  const live = useAppStore((s) => s.live);
  const verification = useAppStore((s) => s.join.offerView?.verification);
  const seconds = useAppStore((s) => s.policy?.controlPromptSeconds ?? 30);
  useAppStore((s) => s.tick);
  const req = live.controlRequest;
  if (!req) return null;
  const left = Math.max(0, seconds * 1000 - (Date.now() - req.receivedAt));
  const who = live.peerName ?? 'Support';
  const check = needsCodeCheck(req.capability);
  const words = isGrantable(req.capability) ? grantWording(req.capability, req.direction ?? null, { images: clipboardImagesNow() }) : { action: req.capability, sentence: '', allow: 'Allow' };
  const isControl = req.capability === 'control';
  return h(
    Dialog,
    { alert: true, labelledBy: 'cp-title', describedBy: 'cp-desc', testId: 'control-prompt', onEscape: () => void answerControl(false) },
    h('h2', { id: 'cp-title' }, iso(who), ` asks to ${words.action}`),
    h('p', { id: 'cp-desc' }, words.sentence, isControl ? ' You can take control back at any moment with "Take control back" or Stop.' : ' You can switch it off at any moment, or press Stop.'),
    req.mfaAt ? h('p', { 'data-testid': 'prompt-mfa' }, `${who} confirmed it is them ${confirmedWith(verification)} ${ageText(req.mfaAt, brokerNow())}.`) : null,
    check ? h(CodeCheck, { who, sas: live.sas }) : null,
    check
      ? h(
          'div',
          null,
          h(
            'div',
            { className: 'choice choice-compact' },
            h('button', { type: 'button', className: 'choice-button accept', onClick: confirmCodeAndAllow, disabled: !live.sas }, 'Yes, the same code: allow control'),
            h('button', { type: 'button', className: 'choice-button decline', onClick: () => void codesDiffer() }, 'No, a different code: end the session'),
          ),
          h(
            'p',
            { className: 'small deny-line' },
            h('button', { type: 'button', onClick: () => void answerControl(false) }, 'Deny control'),
            ` If you do not answer, this is denied in ${mmss(left)}. Escape denies it now.`,
          ),
        )
      : h(
          'div',
          null,
          h('p', { className: 'small' }, `If you do not answer, this is denied in ${mmss(left)}. Escape denies it now.`),
          h(
            'div',
            { className: 'choice' },
            h('button', { type: 'button', className: 'choice-button accept', onClick: () => void answerControl(true) }, words.allow),
            h('button', { type: 'button', className: 'choice-button decline', onClick: () => void answerControl(false) }, 'Deny'),
          ),
        ),
  );
}

/**
 * Before the first control of a session: the two people compare the code aloud. Only the same
 * six digits on both screens show that nobody sits between them; a different code ends it.
 */
function CodeCheck(props: { who: string; sas: string | null }): ReactNode {
  return h(
    'div',
    { className: 'code-check', 'data-testid': 'code-check' },
    h('p', null, h('strong', null, 'First check that it is really ', iso(props.who), '.'), ' Ask them to read you the verification code on their screen. Your code is:'),
    h('p', { className: 'sas-large', 'data-testid': 'prompt-sas', 'aria-live': 'polite' }, props.sas ?? 'Waiting for the code…'),
    h('p', { className: 'code-question' }, 'Does ', iso(props.who), ' read the same code?'),
  );
}

function ExtensionPrompt(): ReactNode {
  const live = useAppStore((s) => s.live);
  const offset = useAppStore((s) => s.clockOffsetMs);
  const x = live.extensionOffer;
  if (!x) return null;
  const at = (brokerMs: number) => new Date(brokerMs - offset).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return h(
    Dialog,
    { alert: true, labelledBy: 'ext-title', describedBy: 'ext-desc', testId: 'extension-prompt', onEscape: () => void answerExtension(false) },
    h('h2', { id: 'ext-title' }, iso(live.peerName ?? 'Support'), ` asks for ${x.minutes} more minutes`),
    h(
      'p',
      { id: 'ext-desc' },
      live.expiresAt !== null ? `The session would end at ${at(x.newExpiresAt)} instead of ${at(live.expiresAt)}. ` : `The session would end at ${at(x.newExpiresAt)}. `,
      'What they can do stays as it is, and you can still stop at any time.',
    ),
    h('p', { className: 'small' }, 'If you say no, the session ends when it was going to. Escape says no.'),
    h(
      'div',
      { className: 'choice' },
      h('button', { type: 'button', className: 'choice-button accept', onClick: () => void answerExtension(true) }, `Allow ${x.minutes} more minutes`),
      h('button', { type: 'button', className: 'choice-button decline', onClick: () => void answerExtension(false) }, 'No, keep the current end'),
    ),
  );
}

/** A chat line's time as people read it on a clock (local time, hours and minutes). */
export function chatTime(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The chat as plain text for a ticket: one line each, with the date and 24-hour local time (unambiguous in any ticket) and who wrote it. */
export function chatTranscript(chat: { from: 'me' | 'them'; text: string; at: number }[], me: string, them: string): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = (ms: number) => {
    const d = new Date(ms);
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
  };
  return chat.map((c) => `[${stamp(c.at)}] ${c.from === 'me' ? me : them}: ${c.text}`).join('\n');
}

export function ChatPanel(props: { who: string; me?: string }): ReactNode {
  const chat = useAppStore((s) => s.live.chat);
  const connected = useAppStore((s) => s.live.state === 'connected');
  const [text, setText] = useState('');
  return h(
    'section',
    { className: 'chat', 'aria-labelledby': 'chat-title' },
    h('h2', { id: 'chat-title' }, 'Chat'),
    h(
      'ol',
      { className: 'chat-log', 'aria-live': 'polite', 'data-testid': 'chat-log' },
      ...chat.map((c, i) =>
        h(
          'li',
          { key: i, className: `chat-${c.from}` },
          h('time', { className: 'chat-time', dateTime: new Date(c.at).toISOString() }, chatTime(c.at)),
          ' ',
          h('strong', null, c.from === 'me' ? 'You' : iso(props.who), ': '),
          iso(c.text),
        ),
      ),
    ),
    h(
      'form',
      {
        className: 'chat-form',
        onSubmit: (e: { preventDefault(): void }) => {
          e.preventDefault();
          if (text.trim() && sendChat(text.trim())) setText('');
        },
      },
      h('label', { htmlFor: 'chat-input', className: 'visually-hidden' }, 'Message'),
      h('input', { id: 'chat-input', value: text, maxLength: 2000, onChange: (e: { target: { value: string } }) => setText(e.target.value), disabled: !connected, placeholder: 'Type a message' }),
      h('button', { type: 'submit', disabled: !connected }, 'Send'),
    ),
  );
}

// ---------------------------------------------------------------- the end

const BY_TEXT: Record<string, string> = {
  end_user: 'was taken back by you',
  analyst: 'was given back by the support person',
  broker: 'was ended by the broker',
  expiry: 'ran out of time',
};

export function EndScreen(props: { role: 'end_user' | 'analyst'; onDone: () => void; text: Record<ShownEndReason, string> }): ReactNode {
  const live = useAppStore((s) => s.live);
  const me = useAppStore((s) => s.staff.account?.display_name);
  const ended = live.ended;
  const reason = ended?.reason ?? 'completed';
  const revoked = (ended?.revoked ?? []).filter((r) => GRANT_NAMES[r]);
  const during = live.revokedDuring.filter((d) => !revoked.includes(d.kind));
  return h(
    'section',
    { className: 'card narrow', 'aria-labelledby': 'end-title', 'data-testid': 'end-screen', 'data-reason': reason },
    props.role === 'end_user' ? h(BrandMark) : null,
    h(ScreenHeading, { id: 'end-title' }, reason === 'declined' && props.role === 'end_user' ? 'You declined the session' : 'The session has ended'),
    h('p', { 'data-testid': 'end-reason' }, endText(props.text, reason)),
    ended?.note ? h('p', { 'data-testid': 'end-note' }, 'The reason they gave: ', h('q', null, iso(ended.note))) : null,
    props.role === 'end_user'
      ? h(
          'div',
          { 'data-testid': 'end-revoked' },
          revoked.length > 0 ? h('p', null, 'When it ended, this computer switched off: ', h('strong', null, listText(revoked.map((r) => GRANT_NAMES[r]!))), '.') : null,
          during.length > 0 ? h('p', null, 'Earlier in the session: ', listText(during.map((d) => `${GRANT_NAMES[d.kind] ?? d.kind} ${BY_TEXT[d.by] ?? 'ended'}`)), '.') : null,
          h('p', null, nothingWasShared(reason) ? 'Nothing was shared and nothing was switched on.' : 'Nothing is shared any more and nobody can control this computer.'),
        )
      : h('p', null, 'The connection, your session token and any control you had are gone.'),
    live.notice ? h(Alert, null, live.notice) : null,
    props.role === 'analyst' && live.chat.length > 0
      ? h('p', null, `The chat had ${live.chat.length} message${live.chat.length === 1 ? '' : 's'}. `, h(CopyButton, { text: chatTranscript(live.chat, me ?? 'Support', 'End user'), label: 'Copy the chat for the ticket', testId: 'copy-chat' }))
      : null,
    props.role === 'end_user' ? h(HelpLine) : null,
    h('button', { type: 'button', className: 'primary', onClick: props.onDone }, props.role === 'end_user' ? 'Done' : 'New request'),
  );
}

export function EndUserApp(): ReactNode {
  const phase = useAppStore((s) => s.join.phase);
  const lapsed = useAppStore((s) => s.join.lapsed);
  const brand = useBrandName();
  useEffect(() => void loadBranding(), []);
  // The window (and the taskbar) names the organisation, not the product.
  useEffect(() => {
    const base = 'Chaperone remote support';
    document.title = brand ? `${brand} remote support` : base;
    return () => {
      document.title = base;
    };
  }, [brand]);
  switch (phase) {
    case 'enter':
    case 'redeeming':
      return h(JoinScreen);
    case 'consent':
    case 'starting':
      return h(ConsentScreen);
    case 'lapsed':
      return h(OfferLapsed, { why: lapsed ?? 'expired' });
    case 'live':
      return h('div', null, h(SessionBanner), h(LiveScreen));
    case 'ended':
      return h(EndScreen, { role: 'end_user', onDone: startOver, text: END_REASON_TEXT });
    default:
      return missingCase(phase);
  }
}
