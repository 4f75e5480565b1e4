/** The desktops the libnut adapter drives, named as Node names their platforms. */
export const TARGET_OSES = ['win32', 'darwin', 'linux'] as const;
export type TargetOs = (typeof TARGET_OSES)[number];

export function isTargetOs(p: string): p is TargetOs {
  return (TARGET_OSES as readonly string[]).includes(p);
}
