import { createRequire } from 'node:module';
import { InjectionUnavailableError } from '../injector.js';
import type { TargetOs } from './target-os.js';

/**
 * The part of libnut (npm `@nut-tree-fork/libnut-<platform>`, an N-API addon with prebuilt
 * binaries for Windows, macOS and Linux in the package, so it loads in Node and in Electron
 * without a rebuild) that the libnut adapter uses. Every call is synchronous and returns once the
 * OS has the event.
 */
export interface Libnut {
  setMouseDelay(ms: number): void;
  setKeyboardDelay(ms: number): void;
  moveMouse(x: number, y: number): void;
  mouseToggle(down: 'down' | 'up', button: 'left' | 'middle' | 'right'): void;
  /** Positive y scrolls up and positive x left (see key-map.ts wheelAmount). */
  scrollMouse(x: number, y: number): void;
  /** Throws "Invalid key code specified." for a name it does not know. */
  keyToggle(key: string, down: 'down' | 'up', modifier?: string[]): void;
  keyTap(key: string, modifier?: string[]): void;
  typeString(s: string): void;
  getScreenSize(): { width: number; height: number };
  getMousePos(): { x: number; y: number };
  /** Linux only. Its sibling getXDisplayName aborts the process when no name was set: never call it. */
  setXDisplayName?(name: string): void;
}

/** One package per platform, all at the version package.json pins (optionalDependencies). */
export const LIBNUT_PACKAGES: Readonly<Record<TargetOs, string>> = {
  win32: '@nut-tree-fork/libnut-win32',
  darwin: '@nut-tree-fork/libnut-darwin',
  linux: '@nut-tree-fork/libnut-linux',
};

type Require = (id: string) => unknown;

/**
 * Loads the platform's binary directly, not through the package's index.js: on macOS that file
 * wraps every call in a permission check of its own that prompts and prints to the console;
 * main checks the Accessibility permission itself, with a message the end user can act on
 * (main/injector-permissions.ts). The `@nut-tree-fork/libnut` wrapper is not used either: it
 * picks the same packages but fails to load outside its own layout.
 */
export function loadLibnut(os: TargetOs, req: Require = createRequire(import.meta.url)): Libnut {
  const pkg = LIBNUT_PACKAGES[os];
  let lib: unknown;
  try {
    lib = req(`${pkg}/build/Release/libnut.node`);
  } catch (err) {
    throw new InjectionUnavailableError('injection_unavailable', `the native input library ${pkg} could not be loaded (an optional dependency, installed on its own platform only): ${(err as Error).message}`);
  }
  const l = lib as Partial<Libnut>;
  for (const fn of ['moveMouse', 'mouseToggle', 'scrollMouse', 'keyToggle', 'keyTap', 'typeString', 'getScreenSize', 'setMouseDelay', 'setKeyboardDelay'] as const) {
    if (typeof l[fn] !== 'function') throw new InjectionUnavailableError('injection_unavailable', `${pkg} has no ${fn}(): not the libnut this adapter was written for`);
  }
  return l as Libnut;
}
