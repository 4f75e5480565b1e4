import { missingCase } from '../../common/missing-case.js';

/** Where a machine policy may be, per platform. Per-user places are deliberately absent: a user cannot override it. */
export interface MachinePolicyLocations {
  linuxFile: string;
  windowsRegistryKey: string;
  windowsFile: string;
  macosManagedPlist: string;
}

export const DEFAULT_LOCATIONS: MachinePolicyLocations = {
  linuxFile: '/etc/chaperone/policy.json',
  windowsRegistryKey: 'HKLM\\SOFTWARE\\Policies\\Chaperone',
  // Not %ProgramData%: environment variables are the user's to set, and would let them point the
  // app at a file of their own. Windows on another drive passes its path from the composition root.
  windowsFile: 'C:\\ProgramData\\Chaperone\\policy.json',
  // The computer-level managed preferences an MDM profile writes (root-owned); the per-user
  // subfolders beside it are ignored.
  macosManagedPlist: '/Library/Managed Preferences/com.chaperone.desktop.plist',
};

export type PolicySource =
  | { kind: 'json-file'; location: string }
  | { kind: 'registry'; location: string }
  | { kind: 'plist'; location: string };

/**
 * The sources of one platform, highest precedence first. The loader takes the first that exists
 * as the whole policy (no merging: an administrator reads one place to know what is in force), and
 * a first source that exists but is broken fails closed rather than falling through to the next.
 *
 * - Windows: the HKLM policy key (Group Policy / Intune write it, only administrators can), then
 *   %ProgramData%\Chaperone\policy.json.
 * - macOS: the managed preferences of com.chaperone.desktop.
 * - Linux and other POSIX systems: /etc/chaperone/policy.json.
 */
export function policySources(platform: NodeJS.Platform, loc: MachinePolicyLocations): PolicySource[] {
  switch (platform) {
    case 'win32':
    case 'cygwin':
      return [
        { kind: 'registry', location: loc.windowsRegistryKey },
        { kind: 'json-file', location: loc.windowsFile },
      ];
    case 'darwin':
      return [{ kind: 'plist', location: loc.macosManagedPlist }];
    case 'linux':
    case 'freebsd':
    case 'openbsd':
    case 'netbsd':
    case 'sunos':
    case 'aix':
    case 'android':
    case 'haiku':
      return [{ kind: 'json-file', location: loc.linuxFile }];
    default:
      return missingCase(platform);
  }
}
