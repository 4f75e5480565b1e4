import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startBroker, type Broker, type StartOptions } from '../broker/broker.js';
import { totpAt, totpStep } from '../broker/auth/totp.js';
import type { Role, AnalystKind } from '../common/roles.js';
import { DEFAULT_RECORDING_POLICY } from '../common/recording.js';
import { ApiClient } from './api.js';
import { DeviceKey } from './device.js';

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const ENGINES = ['sqlite', 'postgres'] as const;
export type TestEngine = (typeof ENGINES)[number];

export function tempDir(prefix = 'chaperone-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface TestBroker extends Broker {
  dataDir: string;
  engine: TestEngine;
  pgSchema?: string;
  /** Stops and removes everything the broker made (data dir, PostgreSQL schema). */
  destroy(): Promise<void>;
  restart(extra?: Partial<StartOptions>): Promise<TestBroker>;
}

export async function startTestBroker(engine: TestEngine = 'sqlite', extra: Partial<StartOptions> = {}, reuse?: { dataDir: string; pgSchema?: string }): Promise<TestBroker> {
  const dataDir = reuse?.dataDir ?? tempDir();
  const pgSchema = engine === 'postgres' ? (reuse?.pgSchema ?? `t_${crypto.randomBytes(6).toString('hex')}`) : undefined;
  process.env.CHAPERONE_LOG_LEVEL ??= 'silent';
  // The product records sessions with control as `required`; the test clients in Node have no
  // MediaRecorder, so tests that do not say otherwise run with best_effort (the recording tests
  // set `required` themselves and upload chunks).
  const policy = { ...(extra.policy ?? {}) } as NonNullable<StartOptions['policy']>;
  if (!policy.recordings) policy.recordings = { ...DEFAULT_RECORDING_POLICY, with_control: 'best_effort' };
  const broker = await startBroker({
    dataDir,
    port: 0,
    databaseUrl: engine === 'postgres' ? PG_URL : undefined,
    pgSchema,
    ...extra,
    policy,
  });
  const tb: TestBroker = Object.assign(broker, {
    dataDir,
    engine,
    pgSchema,
    async destroy() {
      await broker.close().catch(() => undefined);
      await dropSchema(pgSchema);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
    async restart(more: Partial<StartOptions> = {}) {
      await broker.close();
      return startTestBroker(engine, { ...extra, ...more }, { dataDir, pgSchema });
    },
  });
  return tb;
}

export async function dropSchema(schema: string | undefined): Promise<void> {
  if (!schema) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
}

export interface TestUser {
  username: string;
  password: string;
  totpSecret: string;
  api: ApiClient;
  id: string;
  /** The TOTP code of the last sign-in (a replay of it must fail). */
  lastTotp?: string;
}

let lastTotpStep = new Map<string, number>();

/** A TOTP code that has not been used yet for this account (the broker refuses a reused step). */
export function freshTotp(secret: string): string {
  // Follows the broker's clock when a test moved it (DeviceKey.clockSkewS).
  const step = Math.max(totpStep(Date.now() + DeviceKey.clockSkewS * 1000), (lastTotpStep.get(secret) ?? -1) + 1);
  lastTotpStep.set(secret, step);
  return totpAt(secret, step);
}

export function resetTotpMemory(): void {
  lastTotpStep = new Map();
}

/** Creates an account the way an admin would, changes its one-time password and signs in. */
export async function createUser(b: Broker, username: string, roles: Role[], kind: AnalystKind = 'internal', organisation = 'Acme IT'): Promise<TestUser> {
  const created = await b.ctx.accounts.create({ username, display_name: `${username[0]!.toUpperCase()}${username.slice(1)} Tester`, organisation, kind, roles }, 'test');
  const api = new ApiClient(b.url, new DeviceKey());
  const password = `pw-${crypto.randomBytes(12).toString('hex')}`;
  const change = await api.post('/api/v1/auth/password', { username, password: created.one_time_password, totp: freshTotp(created.totp_secret!), new_password: password });
  if (change.status !== 200) throw new Error(`password change failed: ${JSON.stringify(change.body)}`);
  const user: TestUser = { username, password, totpSecret: created.totp_secret!, api, id: created.account.id };
  await login(user);
  return user;
}

export async function login(u: TestUser): Promise<void> {
  u.lastTotp = freshTotp(u.totpSecret);
  const res = await u.api.post('/api/v1/auth/login', { username: u.username, password: u.password, totp: u.lastTotp });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.body)}`);
  u.api.accessToken = res.body.access_token;
  u.api.refreshToken = res.body.refresh_token;
}
