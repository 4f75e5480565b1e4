import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realAdminFilePort } from '../../main/machine-policy/admin-file.js';
import { DEFAULT_LOCATIONS, loadMachinePolicy, type MachinePolicyResult } from '../../main/machine-policy/index.js';
import { DEFAULT_PLUTIL, realPlistPort } from '../../main/machine-policy/plist-port.js';
import { fakePlutil } from '../fakes/machine-policy-fakes.js';

const keyX = () => crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;

/** The XML an MDM profile leaves in /Library/Managed Preferences (the fake plutil is given its JSON form). */
const PLIST = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>version</key><integer>1</integer></dict></plist>
`;

/**
 * macOS: the computer-level managed preferences of com.chaperone.desktop, converted by plutil (a
 * fake here, answering with JSON fixtures) after the real file reader checked owner, mode and size.
 */
describe('the macOS managed preferences', () => {
  let dir: string;
  let plist: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-managed-prefs-'));
    fs.chmodSync(dir, 0o755);
    plist = path.join(dir, 'com.chaperone.desktop.plist');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const load = (json: Parameters<typeof fakePlutil>[0]): Promise<MachinePolicyResult> =>
    loadMachinePolicy({
      platform: 'darwin',
      locations: { macosManagedPlist: plist },
      ports: { readAdminFile: realAdminFilePort({ posixOwnership: true, adminUid: process.getuid!() }), plistToJson: realPlistPort(fakePlutil(json)) },
    });

  it('reads the computer-level file, never a per-user one', () => {
    expect(DEFAULT_LOCATIONS.macosManagedPlist).toBe('/Library/Managed Preferences/com.chaperone.desktop.plist');
  });

  it('no managed preferences: unmanaged', async () => {
    expect(await load({})).toEqual({ status: 'none' });
  });

  it('the plist, as plutil converts it, is the policy', async () => {
    fs.writeFileSync(plist, PLIST, { mode: 0o644 });
    const k = keyX();
    const json = JSON.stringify({ version: 1, broker_url: 'https://support.example.com', broker_public_keys: [k], analyst_mode: false, allowed_organisations: ['Acme IT'], max_session_minutes: 20 });
    expect(await load({ [plist]: json })).toEqual({
      status: 'ok',
      source: plist,
      policy: expect.objectContaining({ brokerPublicKeys: [k], allowedOrganisations: ['Acme IT'], maxSessionSeconds: 1200, analystMode: false }),
    });
  });

  it('a profile’s own Payload keys left in the file are set aside; any other unknown key is an error', async () => {
    fs.writeFileSync(plist, PLIST, { mode: 0o644 });
    const policy = { version: 1, broker_url: 'https://support.example.com', broker_public_keys: [keyX()] };
    const withPayload = JSON.stringify({ ...policy, PayloadUUID: '8A4F2B6C-2D3E-4F50-8A61-7B8C9D0E1F22', PayloadIdentifier: 'com.example.chaperone.policy.settings' });
    expect(await load({ [plist]: withPayload })).toMatchObject({ status: 'ok' });
    expect(await load({ [plist]: JSON.stringify({ ...policy, Payloadish: 1 }) })).toMatchObject({ status: 'invalid', message: expect.stringContaining('unknown field "Payloadish"') });
  });

  it('runs plutil by its full path to print JSON to stdout', async () => {
    const plutil = fakePlutil({});
    await realPlistPort(plutil)(plist);
    expect(plutil.calls).toEqual([[DEFAULT_PLUTIL, '-convert', 'json', '-o', '-', plist]]);
  });

  it('a profile that tries to turn off the click for control is invalid', async () => {
    fs.writeFileSync(plist, PLIST, { mode: 0o644 });
    const json = JSON.stringify({ version: 1, broker_url: 'https://support.example.com', broker_public_keys: [keyX()], control_needs_click: false });
    expect(await load({ [plist]: json })).toMatchObject({ status: 'invalid', source: plist, message: expect.stringContaining('"control_needs_click" can only be true') });
  });

  it('a plist plutil cannot convert (a date, a data blob, corruption) is invalid with plutil’s reason', async () => {
    fs.writeFileSync(plist, PLIST, { mode: 0o644 });
    expect(await load({ [plist]: { exit: 1, stderr: 'Invalid object in plist for destination format' } })).toMatchObject({
      status: 'invalid',
      message: expect.stringContaining('plutil could not convert it (exit 1): Invalid object in plist for destination format'),
    });
  });

  it('a plist others can write is refused before plutil runs', async () => {
    fs.writeFileSync(plist, PLIST);
    fs.chmodSync(plist, 0o666);
    const plutil = fakePlutil({ [plist]: '{}' });
    const r = await loadMachinePolicy({
      platform: 'darwin',
      locations: { macosManagedPlist: plist },
      ports: { readAdminFile: realAdminFilePort({ posixOwnership: true, adminUid: process.getuid!() }), plistToJson: realPlistPort(plutil) },
    });
    expect(r).toMatchObject({ status: 'invalid', message: expect.stringContaining('can be changed by users other than root') });
    expect(plutil.calls).toEqual([]);
  });

  it('a plist over 64 KiB is refused', async () => {
    fs.writeFileSync(plist, PLIST.repeat(1 + (64 * 1024) / PLIST.length), { mode: 0o644 });
    expect(await load({ [plist]: '{}' })).toMatchObject({ status: 'invalid', message: expect.stringContaining('more than the 64 KiB') });
  });
});
