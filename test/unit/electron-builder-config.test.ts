import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseYamlSubset, type YamlValue } from '../helpers/yaml-subset.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
type Obj = { [k: string]: YamlValue };

/**
 * electron-builder cannot package here (it downloads Electron), so this checks its configuration
 * says what IT administrators are promised in docs/admin/deployment.md.
 */
describe('electron-builder.yml', () => {
  const cfg = parseYamlSubset(fs.readFileSync(path.join(ROOT, 'electron-builder.yml'), 'utf8')) as Obj;
  const section = (k: string) => cfg[k] as Obj;

  it('builds deb, rpm and AppImage; NSIS and MSI; dmg and pkg', () => {
    expect(section('linux').target).toEqual(['deb', 'rpm', 'AppImage']);
    expect(section('win').target).toEqual(['nsis', 'msi']);
    expect(section('mac').target).toEqual(['dmg', 'pkg']);
  });

  it('the MSI installs per machine; NSIS offers the choice, so /allusers works silently', () => {
    expect(section('msi')).toMatchObject({ perMachine: true, oneClick: false });
    expect(section('nsis')).toMatchObject({ oneClick: false, perMachine: false });
  });

  it('the macOS pkg installs into /Applications for everyone and cannot be moved into a home folder', () => {
    expect(section('pkg')).toMatchObject({ installLocation: '/Applications', allowCurrentUserHome: false, isRelocatable: false });
  });

  it('registers the chaperone:// join link', () => {
    expect(cfg.protocols).toEqual([{ name: expect.any(String), schemes: ['chaperone'] }]);
  });

  it('packs the built app (npm run build:app) and starts its bundle; the app id matches the macOS managed preferences domain', () => {
    expect(cfg.files).toContain('dist/app/**/*');
    // electron-builder packs package.json, whose "main" is the bundle scripts/build-app.mjs writes.
    expect(cfg.files).toContain('package.json');
    expect((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { main?: string }).main).toBe('dist/app/main.cjs');
    expect(cfg.appId).toBe('com.chaperone.desktop');
    expect(cfg.asar).toBe(true);
  });

  it('the reader refuses what it does not understand instead of guessing', () => {
    expect(() => parseYamlSubset('a: [1, 2]')).toThrow(/outside the subset/);
    expect(() => parseYamlSubset('a: 1\n  b: 2')).toThrow(/unexpected indentation/);
    expect(parseYamlSubset('# c\na:\n  - x: 1\n    y: "q # not a comment"\n  - z\nb: false # c')).toEqual({ a: [{ x: 1, y: 'q # not a comment' }, 'z'], b: false });
  });
});
