/**
 * The panic chord: Ctrl+Alt+Shift+End, pressed by the end user, ends the session at once.
 *
 * Why this chord: it needs three modifiers held together plus End, which sits in the navigation
 * cluster away from the letters, so on a full keyboard it takes both hands on purpose; it types
 * nothing, and no everyday shortcut uses all four keys together. On a laptop End is Fn+Right, still
 * deliberate. The Stop button on the banner is the first route; this one works when the banner is
 * covered or the pointer is being moved by the analyst.
 *
 * The chord is only worth anything if the analyst cannot produce it: a global shortcut sees keys
 * injected through XTEST just like real ones. So the input gate refuses any remote key press that
 * would complete it (see `completesChord`), in whatever order the keys arrive, since a held key
 * auto-repeats and a later modifier would turn the repeat into the chord.
 */
export const PANIC_CHORD = {
  /** Electron accelerator syntax, for globalShortcut.register. */
  accelerator: 'Control+Alt+Shift+End',
  parts: ['Control', 'Alt', 'Shift', 'End'],
} as const;

export type ChordPart = (typeof PANIC_CHORD.parts)[number];

/**
 * KeyboardEvent.code and .key values that count as each part. Deliberately wide: the injector
 * falls back from code to key, so both are checked; Numpad1 is End when NumLock is off locally.
 */
const PART_NAMES: Record<ChordPart, { codes: readonly string[]; keys: readonly string[] }> = {
  Control: { codes: ['ControlLeft', 'ControlRight'], keys: ['Control'] },
  Alt: { codes: ['AltLeft', 'AltRight'], keys: ['Alt', 'AltGraph'] },
  Shift: { codes: ['ShiftLeft', 'ShiftRight'], keys: ['Shift'] },
  End: { codes: ['End', 'Numpad1'], keys: ['End'] },
};

/** Which part of the chord a key event is, or null. */
export function chordPart(code: string, key: string): ChordPart | null {
  for (const part of PANIC_CHORD.parts) {
    const names = PART_NAMES[part];
    if (names.codes.includes(code) || names.keys.includes(key)) return part;
  }
  return null;
}

/** True when pressing `part` while `held` are down would complete the chord. */
export function completesChord(held: Iterable<ChordPart>, part: ChordPart): boolean {
  const down = new Set(held);
  down.add(part);
  return PANIC_CHORD.parts.every((p) => down.has(p));
}

/** The slice of Electron's globalShortcut the panic chord needs. */
export interface GlobalShortcuts {
  register(accelerator: string, callback: () => void): boolean;
  unregister(accelerator: string): void;
}

/**
 * Arms the chord for the length of a session. Throws when the chord cannot be registered (another
 * program holds it), so the app can tell the end user to rely on the Stop button instead of
 * believing in a chord that does nothing. Returns the disarm function.
 */
export function armPanicChord(shortcuts: GlobalShortcuts, onPanic: () => void): () => void {
  if (!shortcuts.register(PANIC_CHORD.accelerator, onPanic)) {
    throw new Error(`the panic chord ${PANIC_CHORD.accelerator} is taken by another program`);
  }
  let armed = true;
  return () => {
    if (!armed) return;
    armed = false;
    shortcuts.unregister(PANIC_CHORD.accelerator);
  };
}
