import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, tempDir, type TestBroker } from '../../kit/broker.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const keyX = () => crypto.generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!;
const isRoot = process.getuid?.() === 0;

function check(args: string[], asNobody = false): { code: number; stdout: string; stderr: string } {
  const cmd = [process.execPath, '--import', 'tsx', 'main/machine-policy/cli.ts', ...args];
  const [file, ...rest] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', ...cmd] : cmd;
  const r = spawnSync(file!, rest, { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** What an administrator or the helpdesk runs to see the policy in force, or to check a file before deploying it. */
describe('the policy check command', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('chaperone-mp-cli-');
    fs.chmodSync(dir, 0o755);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a valid file: exit 0 and what it sets, in words', () => {
    const file = path.join(dir, 'good.json');
    const k = keyX();
    fs.writeFileSync(file, JSON.stringify({ version: 1, broker_url: 'https://support.example.com', broker_public_keys: [k], max_session_minutes: 30, allowed_organisations: ['Acme IT'] }));
    const r = check(['--check', file]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Valid policy: ${file}`);
    expect(r.stdout).toMatch(/broker: +https:\/\/support\.example\.com/);
    expect(r.stdout).toContain(k);
    expect(r.stdout).toMatch(/longest session: +30 minutes/);
    expect(r.stdout).toMatch(/organisations accepted: Acme IT/);
    expect(r.stdout).toMatch(/analyst mode: +not on this machine/);
  });

  it('an invalid file: exit 1 and the helpdesk message; --json gives the same result to a script', () => {
    const file = path.join(dir, 'bad.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, broker_url: 'https://support.example.com', broker_public_keys: [keyX()], control_needs_click: false }));
    const r = check(['--check', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^INVALID: The machine policy at .*bad\.json could not be read: field "control_needs_click" can only be true/);
    const j = check(['--check', file, '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({ status: 'invalid', source: file, message: expect.stringContaining('Chaperone will not start sessions until an administrator fixes it.') });
  });

  it.skipIf(!isRoot)(isRoot ? 'a file the user cannot read is invalid, not ignored' : 'a file the user cannot read is invalid (skipped: needs root to run the check as another user)', () => {
    const file = path.join(dir, 'secret.json');
    fs.writeFileSync(file, JSON.stringify({ version: 1, broker_url: 'https://support.example.com', broker_public_keys: [keyX()] }), { mode: 0o600 });
    const r = check(['--check', file, '--json'], true);
    expect(r.code, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'invalid', message: expect.stringContaining('permission denied (the file must be readable by every user)') });
  });

  const managed = fs.existsSync('/etc/chaperone/policy.json');
  it.skipIf(managed)(managed ? 'without a file it reports this machine as unmanaged (skipped: this machine has /etc/chaperone/policy.json)' : 'without a file it reports this machine: here, unmanaged', () => {
    const r = check(['--check']);
    expect(r).toMatchObject({ code: 0, stdout: 'No machine policy: this is an unmanaged install and the defaults apply.\n' });
  });

  it('usage errors exit 2', () => {
    expect(check([]).code).toBe(2);
  });
});

/** The browser host's --machine-policy: the same parser, the pinned broker over --broker, a broken file refusing sessions. */
describe('the browser host with --machine-policy', () => {
  let b: TestBroker;
  let dir: string;
  let rendererDir: string;
  beforeAll(async () => {
    b = await startTestBroker('sqlite');
    dir = tempDir('chaperone-mp-host-');
    rendererDir = path.join(dir, 'renderer');
    fs.mkdirSync(rendererDir);
    fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><html><head></head><body></body></html>');
  });
  afterAll(async () => {
    await b?.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function host(policy: object): Promise<{ policyView: Record<string, unknown>; jwksStatus: number; stderr: string }> {
    const file = path.join(dir, `${crypto.randomUUID()}.json`);
    fs.writeFileSync(file, JSON.stringify(policy));
    const child = spawn(process.execPath, ['--import', 'tsx', 'main/browser-host/cli.ts', '--broker', 'http://127.0.0.1:9', '--renderer', rendererDir, '--data-dir', path.join(dir, crypto.randomUUID()), '--machine-policy', file], { cwd: ROOT, env: { ...process.env, DISPLAY: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await expect.poll(() => /http:\/\/127\.0\.0\.1:\d+\/\?k=\S+/.test(stdout), { timeout: 20_000 }).toBe(true);
      const launch = new URL(/(http:\/\/127\.0\.0\.1:\d+\/\?k=\S+)/.exec(stdout)![1]!);
      const first = await fetch(launch, { redirect: 'manual' });
      const cookie = String(first.headers.get('set-cookie')).split(';')[0]!;
      const jwksStatus = (await fetch(`${launch.origin}/.well-known/jwks.json`, { headers: { cookie } })).status;
      const ws = new WebSocket(`ws://${launch.host}/__chaperone/bridge`, { headers: { cookie, origin: launch.origin } });
      const policyView = await new Promise<Record<string, unknown>>((resolve, reject) => {
        ws.once('open', () => ws.send(JSON.stringify({ id: 1, method: 'policy.get', args: [] })));
        ws.once('message', (d) => resolve((JSON.parse(String(d)) as { result: Record<string, unknown> }).result));
        ws.once('error', reject);
      });
      ws.close();
      return { policyView, jwksStatus, stderr };
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }

  it('a valid policy: the broker it pins is relayed (not --broker), and the page is told the install is managed', async () => {
    const x = ((await (await fetch(`${b.url}/.well-known/jwks.json`)).json()) as { keys: { x: string }[] }).keys[0]!.x;
    const r = await host({ version: 1, broker_url: b.url, broker_public_keys: [x], analyst_mode: false, max_session_minutes: 20 });
    expect(r.jwksStatus).toBe(200);
    expect(r.policyView).toMatchObject({ managed: { status: 'ok', message: null }, analystMode: false, maxDurationS: 1200 });
  });

  it('a broken policy: the message on stderr and to the page', async () => {
    const r = await host({ version: 1, broker_url: b.url, broker_public_keys: [keyX()], banner_always_visible: false });
    expect(r.stderr).toMatch(/The machine policy at .* could not be read: field "banner_always_visible" can only be true/);
    expect(r.policyView).toMatchObject({ managed: { status: 'invalid', message: expect.stringContaining('Chaperone will not start sessions until an administrator fixes it.') } });
  });
});
