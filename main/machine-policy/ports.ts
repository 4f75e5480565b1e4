import type { RegistryKeyRead } from './reg-query.js';

/** What reading one place that may hold the policy found. */
export type FileRead =
  | { kind: 'absent' }
  | { kind: 'ok'; text: string }
  /** It exists but cannot be trusted or read; `problem` finishes the sentence "could not be read: ...". */
  | { kind: 'unreadable'; problem: string };

export type PlistRead = { kind: 'ok'; json: string } | { kind: 'unreadable'; problem: string };

/**
 * Everything the loader needs from the operating system, so each location can be exercised in a
 * Node test on any platform. The real implementations are in admin-file.ts, registry-port.ts and
 * plist-port.ts.
 */
export interface MachinePolicyPorts {
  /** Reads a policy file that only administrators may write (bounded; ownership checked where the OS has POSIX modes). */
  readAdminFile(file: string): Promise<FileRead>;
  /** The values of a registry key (HKLM), or absent when the key does not exist. */
  readRegistryKey(key: string): Promise<RegistryKeyRead>;
  /** A property list converted to JSON text (macOS `plutil`); the file has already passed readAdminFile. */
  plistToJson(file: string): Promise<PlistRead>;
}

/** Runs a program without a shell; the output is raw bytes so the caller decides how to decode it. */
export type ExecFile = (file: string, args: readonly string[]) => Promise<{ code: number; stdout: Buffer; stderr: Buffer }>;
