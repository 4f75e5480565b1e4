import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realAdminFilePort } from '../../main/machine-policy/admin-file.js';
import { loadMachinePolicy, type MachinePolicyResult } from '../../main/machine-policy/index.js';
import { parseRegQueryOutput, registryValuesToPolicy } from '../../main/machine-policy/reg-query.js';
import { DEFAULT_REG_EXE, realRegistryPort } from '../../main/machine-policy/registry-port.js';
import { fakeRegExe, type FakeRegistry, type FakeRegValue } from '../fakes/machine-policy-fakes.js';

const keyX = () => crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
const KEY = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Chaperone';
const OTHER = 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\\Windows';

/** What `reg query HKLM\SOFTWARE\Policies\Chaperone /s` prints on Windows 11 for the documented .reg file. */
const REAL_OUTPUT = [
  '',
  'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Chaperone',
  '    version    REG_DWORD    0x1',
  '    broker_url    REG_SZ    https://support.example.com',
  '    broker_public_keys    REG_MULTI_SZ    11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\\0ZB2x0Jm6cQ2pSkiqCJd8yQhSy7RcI9CZzUTXAtM3aho',
  '    control_needs_click    REG_DWORD    0x1',
  '    banner_always_visible    REG_DWORD    0x1',
  '    max_session_minutes    REG_DWORD    0x3c',
  '    allowed_organisations    REG_MULTI_SZ    Acme IT\\0Contoso Support',
  '    analyst_mode    REG_DWORD    0x0',
  '    denied_capabilities    REG_MULTI_SZ    files',
  '    control_prompt_seconds    REG_DWORD    0x14',
  '',
  '',
].join('\r\n');

function values(policy: { keys: string[]; extra?: FakeRegValue[] }): FakeRegValue[] {
  return [
    { name: 'version', type: 'REG_DWORD', data: '0x1' },
    { name: 'broker_url', type: 'REG_SZ', data: 'https://support.example.com' },
    { name: 'broker_public_keys', type: 'REG_MULTI_SZ', data: policy.keys.join('\\0') },
    ...(policy.extra ?? []),
  ];
}

describe('reg query output', () => {
  it('parses the blocks, names, types and data reg.exe prints', () => {
    expect(parseRegQueryOutput(REAL_OUTPUT)).toEqual([
      {
        key: KEY,
        values: expect.arrayContaining([
          { name: 'version', type: 'REG_DWORD', data: '0x1' },
          { name: 'allowed_organisations', type: 'REG_MULTI_SZ', data: 'Acme IT\\0Contoso Support' },
        ]),
      },
    ]);
    // A value name with spaces, an empty string, the unset default value, and a parent listing with subkeys.
    const blocks = parseRegQueryOutput(
      '\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\r\n    (Default)    REG_SZ    (value not set)\r\n    Some Name    REG_SZ    \r\n\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Chaperone\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft\r\n',
    );
    expect(blocks.map((b) => b.key)).toEqual(['HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies', KEY, 'HKEY_LOCAL_MACHINE\\SOFTWARE\\Policies\\Microsoft']);
    expect(blocks[0]!.values).toEqual([
      { name: '(Default)', type: 'REG_SZ', data: '(value not set)' },
      { name: 'Some Name', type: 'REG_SZ', data: '' },
    ]);
  });

  it('refuses output it does not understand rather than reading half of it', () => {
    expect(() => parseRegQueryOutput('    orphan    REG_SZ    x\r\n')).toThrow(/unexpected line/);
    expect(() => parseRegQueryOutput(`${REAL_OUTPUT}garbage line\r\n`)).toThrow(/unexpected line/);
  });

  it('turns the values into the policy: DWORD 0/1 into booleans, MULTI_SZ into lists, names without case', () => {
    const [block] = parseRegQueryOutput(REAL_OUTPUT);
    expect(registryValuesToPolicy(block!.values, [])).toEqual({
      ok: true,
      raw: {
        version: 1,
        broker_url: 'https://support.example.com',
        broker_public_keys: ['11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', 'ZB2x0Jm6cQ2pSkiqCJd8yQhSy7RcI9CZzUTXAtM3aho'],
        control_needs_click: true,
        banner_always_visible: true,
        max_session_minutes: 60,
        allowed_organisations: ['Acme IT', 'Contoso Support'],
        analyst_mode: false,
        denied_capabilities: ['files'],
        control_prompt_seconds: 20,
      },
    });
    expect(registryValuesToPolicy([{ name: 'Broker_URL', type: 'REG_SZ', data: 'https://x.example' }], [])).toEqual({ ok: true, raw: { broker_url: 'https://x.example' } });
    // 0/1 become booleans only where the field is one; elsewhere the number stays for the schema to judge.
    expect(registryValuesToPolicy([{ name: 'version', type: 'REG_DWORD', data: '0x1' }], [])).toEqual({ ok: true, raw: { version: 1 } });
    expect(registryValuesToPolicy([{ name: 'analyst_mode', type: 'REG_DWORD', data: '0x2' }], [])).toEqual({ ok: true, raw: { analyst_mode: 2 } });
  });

  it('refuses value types and subkeys a policy never has', () => {
    expect(registryValuesToPolicy([{ name: 'broker_url', type: 'REG_BINARY', data: '6874' }], [])).toEqual({ ok: false, problem: expect.stringMatching(/"broker_url" has type REG_BINARY; use REG_SZ, REG_DWORD or REG_MULTI_SZ/) });
    expect(registryValuesToPolicy([], ['Extra'])).toEqual({ ok: false, problem: expect.stringMatching(/subkey Extra/) });
  });
});

/**
 * Windows: the HKLM policy key (read through reg.exe, here its fake) over
 * %ProgramData%\Chaperone\policy.json (the real file reader on a temporary folder).
 */
describe('the Windows machine policy', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chaperone-programdata-'));
    file = path.join(dir, 'policy.json');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const load = (registry: FakeRegistry, opts: Parameters<typeof fakeRegExe>[1] = {}): Promise<MachinePolicyResult> => {
    const reg = fakeRegExe({ [OTHER]: [{ name: 'NoAutoUpdate', type: 'REG_DWORD', data: '0x1' }], ...registry }, opts);
    return loadMachinePolicy({
      platform: 'win32',
      locations: { windowsFile: file },
      ports: { readRegistryKey: realRegistryPort(reg), readAdminFile: realAdminFilePort({ posixOwnership: false }) },
    });
  };

  it('nothing in either place: unmanaged', async () => {
    expect(await load({})).toEqual({ status: 'none' });
  });

  it('the HKLM key alone is the policy', async () => {
    const k = keyX();
    expect(await load({ [KEY]: values({ keys: [k], extra: [{ name: 'analyst_mode', type: 'REG_DWORD', data: '0x1' }] }) })).toEqual({
      status: 'ok',
      source: 'HKLM\\SOFTWARE\\Policies\\Chaperone',
      policy: expect.objectContaining({ brokerUrl: 'https://support.example.com', brokerPublicKeys: [k], analystMode: true }),
    });
  });

  it('the ProgramData file alone is the policy', async () => {
    fs.writeFileSync(file, JSON.stringify({ version: 1, broker_url: 'https://file.example.com', broker_public_keys: [keyX()] }));
    expect(await load({})).toMatchObject({ status: 'ok', source: file, policy: { brokerUrl: 'https://file.example.com' } });
  });

  it('both: the HKLM key wins whole (no merging) and the file is reported as ignored', async () => {
    fs.writeFileSync(file, JSON.stringify({ version: 1, broker_url: 'https://file.example.com', broker_public_keys: [keyX()], allowed_organisations: ['File Org'] }));
    const r = await load({ [KEY]: values({ keys: [keyX()] }) });
    expect(r).toMatchObject({ status: 'ok', source: 'HKLM\\SOFTWARE\\Policies\\Chaperone', shadowed: [file], policy: { brokerUrl: 'https://support.example.com', allowedOrganisations: null } });
  });

  it('a broken HKLM key fails closed even when a valid file is there', async () => {
    fs.writeFileSync(file, JSON.stringify({ version: 1, broker_url: 'https://file.example.com', broker_public_keys: [keyX()] }));
    const r = await load({ [KEY]: values({ keys: [keyX()], extra: [{ name: 'control_needs_click', type: 'REG_DWORD', data: '0x0' }] }) });
    expect(r).toEqual({
      status: 'invalid',
      source: 'HKLM\\SOFTWARE\\Policies\\Chaperone',
      message: expect.stringMatching(/^The machine policy at HKLM\\SOFTWARE\\Policies\\Chaperone could not be read: field "control_needs_click" can only be true.*Chaperone will not start sessions until an administrator fixes it\.$/),
    });
  });

  it('a key with a misspelt value, a wrong type or a subkey is invalid', async () => {
    expect(await load({ [KEY]: values({ keys: [keyX()], extra: [{ name: 'max_sesion_minutes', type: 'REG_DWORD', data: '0x3c' }] }) })).toMatchObject({ status: 'invalid', message: expect.stringContaining('unknown field "max_sesion_minutes"') });
    expect(await load({ [KEY]: values({ keys: [keyX()], extra: [{ name: 'max_session_minutes', type: 'REG_SZ', data: '60' }] }) })).toMatchObject({ status: 'invalid', message: expect.stringContaining('"max_session_minutes" must be a number, not a string') });
    expect(await load({ [KEY]: values({ keys: [keyX()] }), [`${KEY}\\Extra`]: [{ name: 'x', type: 'REG_SZ', data: 'y' }] })).toMatchObject({ status: 'invalid', message: expect.stringContaining('subkey Extra') });
  });

  it('a key left empty (Group Policy removed its values) is no policy; the file below is used', async () => {
    fs.writeFileSync(file, JSON.stringify({ version: 1, broker_url: 'https://file.example.com', broker_public_keys: [keyX()] }));
    expect(await load({ [KEY]: [] })).toMatchObject({ status: 'ok', source: file });
  });

  it('reg.exe blocked by the administrator’s own policy fails closed instead of looking unmanaged', async () => {
    expect(await load({}, { blocked: true })).toEqual({
      status: 'invalid',
      source: 'HKLM\\SOFTWARE\\Policies\\Chaperone',
      message: expect.stringContaining('Registry editing has been disabled by your administrator'),
    });
  });

  it('a value reg.exe cannot print faithfully (not ASCII) fails closed', async () => {
    const r = await load({ [KEY]: values({ keys: [keyX()] }) }, { rawOutput: { [KEY]: Buffer.from(`\r\n${KEY}\r\n    allowed_organisations    REG_MULTI_SZ    Soci\x82t\x82\r\n`, 'latin1') } });
    expect(r).toMatchObject({ status: 'invalid', message: expect.stringContaining('characters other than ASCII') });
  });

  it('runs reg.exe by its full path with no shell, listing the parent first', async () => {
    const reg = fakeRegExe({ [KEY]: values({ keys: [keyX()] }) });
    await realRegistryPort(reg)('HKLM\\SOFTWARE\\Policies\\Chaperone');
    expect(reg.calls).toEqual([
      [DEFAULT_REG_EXE, 'query', 'HKLM\\SOFTWARE\\Policies'],
      [DEFAULT_REG_EXE, 'query', 'HKLM\\SOFTWARE\\Policies\\Chaperone', '/s'],
    ]);
  });

  it('a broken ProgramData file (no key) is invalid, not unmanaged', async () => {
    fs.writeFileSync(file, '{"version": 1,');
    expect(await load({})).toMatchObject({ status: 'invalid', source: file, message: expect.stringContaining('not valid JSON') });
  });
});
