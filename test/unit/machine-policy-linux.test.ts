import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadMachinePolicy, type MachinePolicyResult } from '../../main/machine-policy/index.js';
import { realAdminFilePort } from '../../main/machine-policy/admin-file.js';

const keyX = () => crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
const policy = () => ({ version: 1, broker_url: 'https://support.example.com', broker_public_keys: [keyX()], allowed_organisations: ['Acme IT'], max_session_minutes: 30 });
const isRoot = process.getuid?.() === 0;
/** Shown in the test name when it is skipped, so the report says why. */
const rootOnly = (name: string) => (isRoot ? name : `${name} (skipped: needs root to make files owned by another user)`);

/**
 * Linux: /etc/chaperone/policy.json, read by the real file reader from a temporary folder that
 * stands in for /etc/chaperone, with real owners and modes.
 */
describe('the Linux machine policy file', () => {
  let dir: string;
  let file: string;
  const load = (): Promise<MachinePolicyResult> =>
    loadMachinePolicy({ platform: 'linux', locations: { linuxFile: file }, ports: { readAdminFile: realAdminFilePort({ posixOwnership: true, adminUid: process.getuid!() }) } });
  const write = (content: string | object, mode = 0o644) => {
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2), { mode });
    fs.chmodSync(file, mode);
  };
  const invalid = async (pattern: RegExp) => {
    const r = await load();
    expect(r).toEqual({ status: 'invalid', source: file, message: expect.stringMatching(pattern) });
    if (r.status === 'invalid') {
      expect(r.message).toMatch(new RegExp(`^The machine policy at ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} could not be read: `));
      expect(r.message).toMatch(/Chaperone will not start sessions until an administrator fixes it\.$/);
    }
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-policy-'));
    fs.chmodSync(dir, 0o755);
    file = path.join(dir, 'policy.json');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the default location is /etc/chaperone/policy.json, and nothing there means an unmanaged install', async () => {
    expect(await loadMachinePolicy({ platform: 'linux', ports: { readAdminFile: async (f) => (f === '/etc/chaperone/policy.json' ? { kind: 'absent' } : { kind: 'unreadable', problem: `read ${f}` }) } })).toEqual({ status: 'none' });
    expect(await load()).toEqual({ status: 'none' });
  });

  it('a root-owned 0644 file in a root-owned folder is the policy', async () => {
    const p = policy();
    write(p);
    expect(await load()).toEqual({
      status: 'ok',
      source: file,
      policy: expect.objectContaining({ brokerUrl: 'https://support.example.com', brokerPublicKeys: p.broker_public_keys, allowedOrganisations: ['Acme IT'], maxSessionSeconds: 1800, controlNeedsClick: true }),
    });
  });

  it('the real reader checks root by default', async () => {
    write(policy());
    const r = await loadMachinePolicy({ platform: 'linux', locations: { linuxFile: file } });
    expect(r.status).toBe(isRoot ? 'ok' : 'invalid');
  });

  it('a file others or the group can write is refused, because a user could have written it', async () => {
    write(policy(), 0o666);
    await invalid(/the file can be changed by users other than root \(mode 0666; run: chmod go-w\)/);
    write(policy(), 0o664);
    await invalid(/mode 0664/);
  });

  it('a writable folder is refused too (a user could replace the file)', async () => {
    write(policy());
    fs.chmodSync(dir, 0o777);
    await invalid(/its folder .* can be changed by users other than root \(mode 0777/);
  });

  it.skipIf(!isRoot)(rootOnly('a file not owned by root is refused'), async () => {
    write(policy());
    fs.chownSync(file, 65534, 65534);
    await invalid(/the file is owned by user id 65534, not by root/);
  });

  it.skipIf(!isRoot)(rootOnly('a symlink to a user’s file is judged by the file it points to'), async () => {
    const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-user-'));
    try {
      fs.writeFileSync(path.join(userDir, 'mine.json'), JSON.stringify(policy()), { mode: 0o644 });
      fs.chownSync(path.join(userDir, 'mine.json'), 65534, 65534);
      fs.symlinkSync(path.join(userDir, 'mine.json'), file);
      await invalid(/owned by user id 65534/);
    } finally {
      fs.rmSync(userDir, { recursive: true, force: true });
    }
  });

  it('bad files fail closed with the line or field that is wrong', async () => {
    write('{\n  "version": 1,\n  "broker_url": "https://support.example.com"\n  "broker_public_keys": []\n}\n');
    await invalid(/it is not valid JSON \(line 4, column 3/);
    write({ ...policy(), allowed_orgs: ['Acme IT'] });
    await invalid(/unknown field "allowed_orgs"/);
    write({ ...policy(), control_needs_click: false });
    await invalid(/field "control_needs_click" can only be true/);
    write({ ...policy(), max_session_minutes: '30' });
    await invalid(/field "max_session_minutes" must be a number, not a string/);
    write(Buffer.from([0xff, 0xfe, 0x00]).toString('latin1'));
    await invalid(/not valid JSON|not UTF-8/);
  });

  it('a file over 64 KiB is refused unread', async () => {
    write({ ...policy(), note: 'x'.repeat(64 * 1024) });
    await invalid(/the file is \d+ bytes, more than the 64 KiB a policy may have/);
  });

  it('something that is not a readable file is refused, without hanging on a FIFO', async () => {
    fs.mkdirSync(file);
    await invalid(/not a regular file|it is a folder/);
    fs.rmdirSync(file);
    execFileSync('mkfifo', [file]);
    await invalid(/it is not a regular file/);
  });

  it('ignores per-user places: a policy in the home folder changes nothing', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-home-'));
    try {
      fs.mkdirSync(path.join(home, '.config/chaperone'), { recursive: true });
      fs.writeFileSync(path.join(home, '.config/chaperone/policy.json'), JSON.stringify(policy()));
      const seen: string[] = [];
      const r = await loadMachinePolicy({
        platform: 'linux',
        locations: { linuxFile: file },
        ports: { readAdminFile: async (f) => (seen.push(f), realAdminFilePort({ posixOwnership: true, adminUid: process.getuid!() })(f)) },
      });
      expect(r).toEqual({ status: 'none' });
      expect(seen).toEqual([file]);
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});
