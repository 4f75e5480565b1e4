import { isCapability, type Capability } from '../../common/capabilities.js';

/**
 * What the analyst asks to do, in the words of the analyst and the approver (the end user's
 * consent screen has its own: "They can see your screen"). Grantable capabilities are only asked
 * for later, in the session: the end user decides then.
 */
export const ANALYST_CAPABILITY_TEXT: Record<Capability, { name: string; what: string }> = {
  view: { name: "See the user's screen", what: 'You see their screen while the session runs (always part of a session).' },
  control: { name: 'Ask for control', what: 'During the session you may ask to use their mouse and keyboard; they decide when you ask.' },
  clipboard: { name: 'Ask for the clipboard', what: 'During the session you may ask to use their clipboard; they decide when you ask.' },
  files: { name: 'Ask to transfer files', what: 'During the session you may ask to send or fetch files; they accept each one.' },
  chat: { name: 'Chat', what: 'You and the end user can write to each other during the session.' },
};

/** For the approver: what the analyst will be able to do, by the same names. */
export const APPROVER_CAPABILITY_TEXT: Record<Capability, string> = {
  view: "see the end user's screen",
  control: 'ask the end user for control of their mouse and keyboard',
  clipboard: "ask for the end user's clipboard",
  files: 'ask to transfer files',
  chat: 'chat with the end user',
};

/** "see the user's screen, chat" for a list of capabilities, in the analyst's words. */
export function capabilityList(caps: readonly string[]): string {
  return caps.map((c) => (isCapability(c) ? ANALYST_CAPABILITY_TEXT[c].name.toLowerCase() : c)).join(', ');
}

const KIND_TEXT: Record<string, string> = { internal: 'internal analyst', vendor: 'outside vendor', incident_responder: 'incident responder' };

/** "internal analyst", "outside vendor": never the stored code. */
export function kindText(kind: string): string {
  return KIND_TEXT[kind] ?? 'analyst';
}
