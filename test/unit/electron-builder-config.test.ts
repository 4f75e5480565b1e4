import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const require = createRequire(import.meta.url);
type Obj = Record<string, unknown>;

/** electron-builder's own schema of its configuration, as the installed version ships it. */
const SCHEMA = JSON.parse(fs.readFileSync(require.resolve('app-builder-lib/scheme.json'), 'utf8')) as object;
/** electron-builder's own default dependency lists (app-builder-lib FpmTarget.getDefaultDepends). */
const FPM_TARGET = fs.readFileSync(require.resolve('app-builder-lib/out/targets/FpmTarget.js'), 'utf8');

function defaultDepends(target: 'deb' | 'rpm'): string[] {
  const body = new RegExp(`case "${target}":\\s*return \\[([^\\]]*)\\]`).exec(FPM_TARGET)?.[1];
  if (!body) throw new Error(`no default ${target} depends in FpmTarget.js: electron-builder changed, read it again`);
  return [...body.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
}

/**
 * electron-builder cannot package here (it downloads Electron), so this checks its configuration
 * is one electron-builder accepts and says what IT administrators are promised in
 * docs/admin/deployment.md.
 */
describe('electron-builder.yml', () => {
  const text = fs.readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8');
  const cfg = yaml.load(text) as Obj;
  const section = (k: string) => cfg[k] as Obj;
  const validate = new Ajv({ strict: false, allErrors: true }).compile(SCHEMA);

  it('is valid against electron-builder’s JSON schema', () => {
    const ok = validate(cfg);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the schema check is not vacuous: a misspelt option or a wrong type is refused', () => {
    expect(validate({ ...cfg, deb: { ...section('deb'), dependz: ['x'] } })).toBe(false);
    expect(validate({ ...cfg, nsis: { ...section('nsis'), perMachine: 'yes' } })).toBe(false);
    expect(validate({ ...cfg, asarUnpack: 42 })).toBe(false);
  });

  it('deb and rpm depend on everything electron-builder would have, then on what Electron links beyond GTK', () => {
    // Our lists replace these, so each default must still be there (alone, or as the first alternative).
    const deb = section('deb').depends as string[];
    expect(defaultDepends('deb')).toEqual(['libgtk-3-0', 'libnotify4', 'libnss3', 'libxss1', 'libxtst6', 'xdg-utils', 'libatspi2.0-0', 'libuuid1', 'libsecret-1-0']);
    for (const d of defaultDepends('deb')) expect(deb.some((x) => x.split(' | ')[0] === d), d).toBe(true);
    for (const d of ['libasound2', 'libgbm1', 'libdrm2', 'libcups2', 'libxkbcommon0']) expect(deb.some((x) => x.split(' | ')[0] === d), d).toBe(true);
    // Debian trixie and Ubuntu 24.04 renamed some for the 64-bit time_t transition.
    expect(deb).toContain('libasound2 | libasound2t64');
    expect(deb).toContain('libgtk-3-0 | libgtk-3-0t64');
    for (const d of deb) expect(d, d).toMatch(/^[a-z0-9][a-z0-9.+-]*( \| [a-z0-9][a-z0-9.+-]*)*$/);

    const rpm = section('rpm').depends as string[];
    expect(defaultDepends('rpm')).toContain('gtk3');
    for (const d of defaultDepends('rpm')) expect(rpm, d).toContain(d);
    for (const d of ['(alsa-lib or libasound2)', '(mesa-libgbm or libgbm1)', '(libdrm or libdrm2)', '(cups-libs or libcups2)']) expect(rpm).toContain(d);
  });

  it('packs the bundle and libnut’s binary, unpacked, and nothing else of node_modules; no rebuild', () => {
    const files = cfg.files as string[];
    expect(files).toEqual(expect.arrayContaining(['dist/app/**/*', 'package.json', '!node_modules/**/*', 'node_modules/@nut-tree-fork/libnut-*/build/Release/*']));
    expect(files.indexOf('!node_modules/**/*')).toBeLessThan(files.indexOf('node_modules/@nut-tree-fork/libnut-*/build/Release/*'));
    expect(cfg.asarUnpack).toEqual(['node_modules/@nut-tree-fork/**/*']);
    expect(cfg.npmRebuild).toBe(false);
    // The platform packages the adapter loads (main/injectors/libnut-module.ts) are declared.
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Obj; optionalDependencies?: Obj };
    expect(pkg.dependencies['@nut-tree-fork/libnut-linux']).toBeDefined();
    expect(pkg.optionalDependencies?.['@nut-tree-fork/libnut-win32']).toBe(pkg.dependencies['@nut-tree-fork/libnut-linux']);
    expect(pkg.optionalDependencies?.['@nut-tree-fork/libnut-darwin']).toBe(pkg.dependencies['@nut-tree-fork/libnut-linux']);
  });

  it('builds deb, rpm and AppImage; NSIS and MSI; dmg and pkg', () => {
    expect(section('linux').target).toEqual(['deb', 'rpm', 'AppImage']);
    expect(section('win').target).toEqual(['nsis', 'msi']);
    expect(section('mac').target).toEqual(['dmg', 'pkg']);
  });

  it('the MSI installs per machine; NSIS offers the choice, so /allusers works silently, and runs our include', () => {
    expect(section('msi')).toMatchObject({ perMachine: true, oneClick: false });
    expect(section('nsis')).toMatchObject({ oneClick: false, perMachine: false, include: 'build/installer.nsh' });
    expect(fs.existsSync(path.join(ROOT, 'build/installer.nsh'))).toBe(true);
  });

  it('the macOS pkg installs into /Applications for everyone and cannot be moved into a home folder', () => {
    expect(section('pkg')).toMatchObject({ installLocation: '/Applications', allowCurrentUserHome: false, isRelocatable: false });
  });

  it('registers the chaperone:// join link', () => {
    expect(cfg.protocols).toEqual([{ name: expect.any(String), schemes: ['chaperone'] }]);
  });

  it('packs the built app (npm run build:app) and starts its bundle; the app id matches the macOS managed preferences domain', () => {
    // electron-builder packs package.json, whose "main" is the bundle scripts/build-app.mjs writes.
    expect((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main?: string }).main).toBe('dist/app/main.cjs');
    expect(cfg.appId).toBe('com.chaperone.desktop');
    expect(cfg.asar).toBe(true);
    // The deb and rpm builders stop without a homepage.
    expect((cfg.extraMetadata as Obj).homepage).toMatch(/^https:\/\//);
  });
});

describe('the NSIS include: C:\\ProgramData\\Chaperone with the documented ACL', () => {
  const nsh = fs.readFileSync(path.join(ROOT, 'build/installer.nsh'), 'utf8');
  const policyDoc = fs.readFileSync(path.join(ROOT, 'docs/admin/policy.md'), 'utf8');
  const code = nsh
    .split('\n')
    .filter((l) => !l.trimStart().startsWith(';'))
    .join('\n');

  it('grants exactly what docs/admin/policy.md tells administrators to grant, by SID', () => {
    const documented = /icacls C:\\ProgramData\\Chaperone (\/inheritance:r \/grant:r .+)$/m.exec(policyDoc)?.[1];
    expect(documented).toBe('/inheritance:r /grant:r *S-1-5-18:(OI)(CI)F *S-1-5-32-544:(OI)(CI)F *S-1-5-32-545:(OI)(CI)RX');
    const grant = /!define CHAPERONE_POLICY_GRANT "([^"]+)"/.exec(code)?.[1];
    expect(`/inheritance:r /grant:r ${grant}`).toBe(documented);
    expect(code).toContain('!define CHAPERONE_POLICY_DIR "C:\\ProgramData\\Chaperone"');
    expect(code).toMatch(/"\$SYSDIR\\icacls\.exe" "\$\{CHAPERONE_POLICY_DIR\}" \/inheritance:r \/grant:r \$\{CHAPERONE_POLICY_GRANT\}/);
  });

  it('runs in electron-builder’s customInstall hook, only for an all-users (elevated) install', () => {
    expect(code).toMatch(/!macro customInstall\s+\$\{if\} \$installMode == "all"\s+!insertmacro chaperonePolicyFolder/);
    // `$installMode` is the variable electron-builder's own template sets.
    const multiUser = fs.readFileSync(require.resolve('app-builder-lib/templates/nsis/multiUser.nsh'), 'utf8');
    expect(multiUser).toContain('StrCpy $installMode all');
    const installSection = fs.readFileSync(require.resolve('app-builder-lib/templates/nsis/installSection.nsh'), 'utf8');
    expect(installSection).toContain('!insertmacro customInstall');
  });

  it('a folder a non-administrator made first is moved aside, never trusted; failures are loud', () => {
    expect(code).toContain('GetOwner([Security.Principal.SecurityIdentifier])');
    expect(code).toMatch(/\$\{if\} \$R1 != "S-1-5-32-544"\s+\$\{andIf\} \$R1 != "S-1-5-18"/);
    expect(code).toMatch(/Rename "\$\{CHAPERONE_POLICY_DIR\}" "\$\{CHAPERONE_POLICY_DIR\}\.untrusted-\$R2"/);
    // Create after the move, then lock; an icacls failure sets the exit code deployment tools read.
    expect(code.indexOf('Rename')).toBeLessThan(code.indexOf('CreateDirectory'));
    expect(code.indexOf('CreateDirectory')).toBeLessThan(code.indexOf('icacls.exe'));
    expect(code.match(/SetErrorLevel 2/g)?.length).toBe(2);
    // Nothing in the uninstaller removes the administrator's policy.
    expect(code).not.toMatch(/customUnInstall|RMDir/);
  });
});
