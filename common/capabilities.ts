export const CAPABILITIES = ['view', 'control', 'clipboard', 'files', 'chat'] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** For names that arrive as text (a session view, a frame): is this one of ours? */
export function isCapability(c: string): c is Capability {
  return (CAPABILITIES as readonly string[]).includes(c);
}

/** Consent to the session itself covers these; everything else is granted one by one inside it. */
export const CONSENT_CAPABILITIES: readonly Capability[] = ['view', 'chat'];

/** Capabilities that need an explicit in-session grant from the end user. */
export const GRANTABLE_CAPABILITIES = ['control', 'clipboard', 'files'] as const;
export type GrantableCapability = (typeof GRANTABLE_CAPABILITIES)[number];

export function isGrantable(c: string): c is GrantableCapability {
  return (GRANTABLE_CAPABILITIES as readonly string[]).includes(c);
}

/** One plain sentence per capability, shown on the consent screen. */
export const CAPABILITY_SENTENCES: Record<Capability, string> = {
  view: 'They can see your screen while the session runs.',
  control: 'If you allow it later, they can move your mouse and type on your keyboard.',
  clipboard: 'If you allow it later, what you copy can go to them and what they copy to you (the request says which way).',
  files: 'If you allow it later, they can send files to this computer or take files you choose from it (the request says which); you accept or refuse each file.',
  chat: 'You can exchange text messages with them.',
};
