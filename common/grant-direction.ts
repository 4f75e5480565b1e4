import type { GrantableCapability } from './capabilities.js';
import { missingCase } from './missing-case.js';

/**
 * Which way clipboard text or files may travel: the direction is part of the grant, asked for by
 * the analyst, shown in the end user's prompt, recorded by the broker and enforced on the end
 * user's machine. Control has none. `to_end_user`: from the analyst to this computer.
 */
export const GRANT_DIRECTIONS = ['both', 'to_end_user', 'from_end_user'] as const;
export type GrantDirection = (typeof GRANT_DIRECTIONS)[number];

/** Capabilities whose grant names a direction. */
export const DIRECTED_CAPABILITIES = ['clipboard', 'files'] as const satisfies readonly GrantableCapability[];

export function needsDirection(c: GrantableCapability): c is (typeof DIRECTED_CAPABILITIES)[number] {
  return (DIRECTED_CAPABILITIES as readonly string[]).includes(c);
}

/** Whether a grant with `granted` lets data go `way` (one direction). */
export function allowsWay(granted: GrantDirection | null | undefined, way: 'to_end_user' | 'from_end_user'): boolean {
  return granted === 'both' || granted === way;
}

/**
 * What the end user is asked, in the words of the issue: exactly what allowing does, and nothing
 * more. `action` follows "<name> asks to"; `sentence` is the prompt's body.
 */
export function grantWording(c: GrantableCapability, d: GrantDirection | null, o: { images?: boolean } = {}): { action: string; sentence: string; allow: string } {
  switch (c) {
    case 'control':
      return { action: 'control your mouse and keyboard', sentence: 'They can move your mouse and type on your keyboard.', allow: 'Allow control' };
    case 'clipboard': {
      // Pictures only where the session's signed offer allows them (policy.clipboard_images) and this machine does too.
      const what = o.images ? 'text and pictures' : 'text';
      const What = o.images ? 'Text and pictures' : 'Text';
      const only = o.images ? 'Only text and pictures, never files.' : 'Only text, never files or pictures.';
      switch (d ?? 'both') {
        case 'both':
          return { action: `copy ${what} between your clipboard and theirs`, sentence: `${What} you copy ${o.images ? 'are' : 'is'} sent to them, and ${what} they copy ${o.images ? 'arrive' : 'arrives'} in your clipboard. ${only}`, allow: 'Allow clipboard' };
        case 'to_end_user':
          return { action: `copy ${what} from their clipboard to yours`, sentence: `${What} they copy ${o.images ? 'arrive' : 'arrives'} in your clipboard. Nothing you copy is sent to them.`, allow: 'Allow clipboard' };
        case 'from_end_user':
          return { action: `copy ${what} from your clipboard to theirs`, sentence: `${What} you copy ${o.images ? 'are' : 'is'} sent to them. Nothing of theirs is put in your clipboard.`, allow: 'Allow clipboard' };
        default:
          return missingCase(d as never);
      }
    }
    case 'files':
      switch (d ?? 'both') {
        case 'both':
          return { action: 'send files to this computer and take files from this computer', sentence: 'They can offer you files, and you can send them files you choose. You accept or refuse every file.', allow: 'Allow files' };
        case 'to_end_user':
          return { action: 'send files to this computer', sentence: 'They can offer you files; you accept or refuse each one, and accepted files go to your Downloads folder.', allow: 'Allow files' };
        case 'from_end_user':
          return { action: 'take files from this computer', sentence: 'You can send them files you choose with "Send a file". They cannot open or take anything else.', allow: 'Allow files' };
        default:
          return missingCase(d as never);
      }
    default:
      return missingCase(c);
  }
}

/** How the analyst's viewer names a direction. */
export const DIRECTION_LABELS: Record<GrantDirection, string> = {
  both: 'Both ways',
  to_end_user: 'To the end user only',
  from_end_user: 'From the end user only',
};
