import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { invalidPolicyMessage, MAX_MACHINE_POLICY_BYTES, parseMachinePolicy, parseMachinePolicyJson } from '../../common/machine-policy.js';

const keyX = () => crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
const base = () => ({ version: 1, broker_url: 'https://support.example.com', broker_public_keys: [keyX()] });

function problem(raw: unknown): string {
  const r = parseMachinePolicy(raw);
  if (r.ok) throw new Error('expected the policy to be refused');
  return r.problem;
}

/** What an administrator may write, and what the app refuses to run with. */
describe('the machine policy schema', () => {
  it('a minimal policy pins the broker and its key; the consent floor is on and the analyst mode off by default', () => {
    const raw = base();
    const r = parseMachinePolicy({ ...raw, broker_url: 'https://support.example.com/' });
    expect(r).toEqual({
      ok: true,
      policy: {
        version: 1,
        brokerUrl: 'https://support.example.com',
        brokerPublicKeys: raw.broker_public_keys,
        controlNeedsClick: true,
        bannerAlwaysVisible: true,
        maxSessionSeconds: null,
        allowedOrganisations: null,
        analystMode: false,
        deniedCapabilities: [],
        controlPromptSeconds: null,
        clipboardImagesDenied: false,
      },
    });
  });

  it('can keep the clipboard to text, but cannot allow pictures', () => {
    expect(parseMachinePolicy({ ...base(), clipboard_images: false })).toMatchObject({ ok: true, policy: { clipboardImagesDenied: true } });
    expect(problem({ ...base(), clipboard_images: true })).toMatch(/field "clipboard_images" can only be false/);
  });

  it('every field set', () => {
    const r = parseMachinePolicy({
      ...base(),
      control_needs_click: true,
      banner_always_visible: true,
      max_session_minutes: 45,
      allowed_organisations: ['Acme IT', 'Contoso Support'],
      analyst_mode: true,
      denied_capabilities: ['files', 'clipboard'],
      control_prompt_seconds: 20,
    });
    expect(r).toMatchObject({ ok: true, policy: { maxSessionSeconds: 2700, allowedOrganisations: ['Acme IT', 'Contoso Support'], analystMode: true, deniedCapabilities: ['files', 'clipboard'], controlPromptSeconds: 20 } });
  });

  it('cannot turn off the click for control or the banner', () => {
    expect(problem({ ...base(), control_needs_click: false })).toMatch(/field "control_needs_click" can only be true/);
    expect(problem({ ...base(), banner_always_visible: false })).toMatch(/field "banner_always_visible" can only be true/);
    expect(problem({ ...base(), control_needs_click: 'no' })).toMatch(/control_needs_click/);
  });

  it('requires https for the broker, except plain http on this machine’s loopback', () => {
    expect(problem({ ...base(), broker_url: 'http://support.example.com' })).toMatch(/field "broker_url" must start with https:\/\//);
    expect(problem({ ...base(), broker_url: 'ftp://support.example.com' })).toMatch(/broker_url/);
    expect(problem({ ...base(), broker_url: 'support.example.com' })).toMatch(/broker_url" is not a URL/);
    expect(problem({ ...base(), broker_url: 'https://user:pw@support.example.com' })).toMatch(/user name, password/);
    expect(problem({ ...base(), broker_url: 'https://support.example.com/?x=1' })).toMatch(/query/);
    for (const ok of ['http://127.0.0.1:7480', 'http://localhost:7480', 'http://[::1]:7480']) expect(parseMachinePolicy({ ...base(), broker_url: ok }).ok).toBe(true);
    // A name that only starts like loopback is not loopback.
    expect(problem({ ...base(), broker_url: 'http://127.0.0.1.evil.example' })).toMatch(/https/);
  });

  it('pins one to four Ed25519 keys by their x; anything else is refused', () => {
    expect(problem({ ...base(), broker_public_keys: [] })).toMatch(/broker_public_keys" needs at least one key/);
    expect(problem({ ...base(), broker_public_keys: ['not-a-key'] })).toMatch(/broker_public_keys\[0\]" must be the 43-character base64url/);
    const k = keyX();
    expect(problem({ ...base(), broker_public_keys: [k, k] })).toMatch(/lists a key twice/);
    expect(problem({ ...base(), broker_public_keys: [keyX(), keyX(), keyX(), keyX(), keyX()] })).toMatch(/at most 4/);
    expect(problem({ ...base(), broker_public_keys: k })).toMatch(/must be a list, not a string/);
  });

  it('refuses unknown fields, so a misspelt restriction is never silently ignored', () => {
    expect(problem({ ...base(), alowed_organisations: ['Acme IT'] })).toBe('unknown field "alowed_organisations"');
  });

  it('refuses wrong types, out-of-range numbers and other versions, naming each field', () => {
    expect(problem({ ...base(), version: 2 })).toBe('field "version" must be 1');
    expect(problem({ ...base(), max_session_minutes: 0 })).toMatch(/max_session_minutes/);
    expect(problem({ ...base(), max_session_minutes: 90.5 })).toMatch(/max_session_minutes" must be a whole number of minutes/);
    expect(problem({ ...base(), max_session_minutes: 24 * 60 + 1 })).toMatch(/max_session_minutes/);
    expect(problem({ ...base(), analyst_mode: 1 })).toBe('field "analyst_mode" must be a boolean, not a number');
    expect(problem({ ...base(), denied_capabilities: ['teleport'] })).toMatch(/denied_capabilities\[0\]/);
    expect(problem({ ...base(), allowed_organisations: [] })).toMatch(/leave the field out to allow any/);
    expect(problem({ ...base(), control_prompt_seconds: 1 })).toMatch(/control_prompt_seconds/);
    expect(problem({ version: 1 })).toBe('field "broker_url" is missing; field "broker_public_keys" is missing');
    expect(problem([])).toBe('the policy must be an object, not a list');
  });

  it('JSON syntax errors name the line and column', () => {
    const r = parseMachinePolicyJson('{\n  "version": 1,\n  "broker_url": "https://support.example.com",\n}\n');
    expect(r).toEqual({ ok: false, problem: expect.stringMatching(/^it is not valid JSON \(line 4, column 1: /) });
    expect(parseMachinePolicyJson('')).toEqual({ ok: false, problem: expect.stringMatching(/not valid JSON/) });
    // A byte order mark, as Notepad writes, is not an error.
    expect(parseMachinePolicyJson(`\uFEFF${JSON.stringify(base())}`).ok).toBe(true);
  });

  it('refuses text larger than 64 KiB before parsing it', () => {
    const big = JSON.stringify({ ...base(), pad: 'x'.repeat(MAX_MACHINE_POLICY_BYTES) });
    expect(parseMachinePolicyJson(big)).toEqual({ ok: false, problem: 'the file is larger than 64 KiB' });
  });

  it('the message tells the helpdesk where, what, and that sessions stop until an administrator fixes it', () => {
    expect(invalidPolicyMessage('/etc/chaperone/policy.json', 'unknown field "x"')).toBe(
      'The machine policy at /etc/chaperone/policy.json could not be read: unknown field "x". Chaperone will not start sessions until an administrator fixes it.',
    );
  });
});
