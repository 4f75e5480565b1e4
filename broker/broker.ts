import { OidcService } from './auth/oidc.js';
import { verifyStoredLog } from './audit/verify.js';
import type { FastifyInstance } from 'fastify';
import type { EndReason } from '../common/session-state.js';
import { buildApp } from './app.js';
import { Cluster } from './cluster/cluster.js';
import { AuditLog } from './audit/log.js';
import { EvidenceService } from './audit/evidence-service.js';
import { RecordingPlayback } from './sessions/recording-playback.js';
import { AccountService } from './auth/accounts.js';
import { FirstSignIn } from './auth/first-sign-in.js';
import { PasskeyService } from './auth/passkeys.js';
import { POLICY_REFRESH_MS, PolicyStore } from './policy-store.js';
import { createTokenService } from './auth/tokens.js';
import { loadConfig, type BrokerConfig, type ConfigOverrides } from './config.js';
import { systemClock, type Clock } from './clock.js';
import type { BrokerContext } from './context.js';
import { HookDispatcher } from './hooks/outbound.js';
import { KeyRing } from './keys.js';
import { SecretBox } from './secret-box.js';
import { Metrics } from './metrics.js';
import type { AnyRoute } from './http/registry.js';
import { SessionService } from './sessions/service.js';
import type { SignalingHub } from './signaling/hub.js';
import { openStorage } from './storage/db.js';
import { SqlLimitStore } from './storage/limits.js';

/** How long a stopping broker lets requests under way finish before it closes their connections. */
const CLOSE_GRACE_MS = 5000;
import { DirRecordingStore, type RecordingStore } from './storage/recording-store.js';

export interface Broker {
  ctx: BrokerContext;
  app: FastifyInstance;
  hub: SignalingHub;
  /** Every HTTP route as declared (what the OpenAPI document is made from). */
  routes: readonly AnyRoute[];
  /** Set on first run: the admin account's one-time credentials, shown once. */
  firstRun: { username: string; one_time_password: string; otpauth_uri: string | null; totp_secret: string | null } | null;
  url: string;
  close(): Promise<void>;
}

export interface StartOptions extends ConfigOverrides {
  clock?: Clock;
  /** Cluster mode: this instance's name among the others (default: pid and random). */
  instanceId?: string;
  hookRetryDelaysS?: number[];
  listen?: boolean;
  /** The recording store (default: files in the data dir). Tests hand in one that fails on purpose. */
  recordingStore?: (dataDir: string) => RecordingStore;
}

/** The composition root: builds every service from the config and wires them together. */
export async function startBroker(o: StartOptions): Promise<Broker> {
  const cfg: BrokerConfig = loadConfig(o);
  const clock = o.clock ?? systemClock;
  const now = () => clock.now();
  const storage = await openStorage({ dataDir: cfg.dataDir, databaseUrl: cfg.databaseUrl, pgSchema: cfg.pgSchema });
  // Retired keys stay published for longer than any token they could have signed lives.
  const keepRetiredMs = Math.max(cfg.refreshTokenTtlS, cfg.policy.hard_max_minutes * 60, cfg.accessTokenTtlS) * 1000 + 60_000;
  const { ring: keys } = KeyRing.load(cfg.dataDir, keepRetiredMs);
  const tokens = createTokenService(keys, cfg.issuer, now);
  const audit = new AuditLog(storage, keys, cfg.dataDir, now);
  const metrics = new Metrics();
  const accounts = new AccountService(cfg, storage, audit, tokens, now, SecretBox.load(cfg.dataDir));
  if ((await accounts.sealClearTotpSecrets()) > 0) await storage.purgeFreedPages();
  const hooks = new HookDispatcher(cfg, storage, audit, metrics, now, o.hookRetryDelaysS);
  const limits = new SqlLimitStore(storage.db);
  const recordings = o.recordingStore ? o.recordingStore(cfg.dataDir) : new DirRecordingStore(cfg.dataDir);
  const sessions = new SessionService(cfg, storage, audit, tokens, clock, hooks, limits, recordings, keys);
  // An account whose tokens stop counting loses its live sessions at once, not at their next use.
  accounts.onRevoked(async (accountId, why, by) => {
    await sessions.endForAccount(accountId, why, by);
  });
  const cluster = cfg.redisUrl ? new Cluster(cfg.redisUrl, cfg.redisPrefix, o.instanceId) : null;
  if (cluster) sessions.setPlacement(cluster);
  const passkeys = new PasskeyService(cfg, storage, audit, now);
  const policy = new PolicyStore(cfg, storage, audit, now);
  await policy.refresh();
  const firstSignIn = new FirstSignIn(cfg, storage, audit, tokens, accounts, now);
  const oidc = cfg.oidc ? new OidcService(cfg, cfg.oidc, storage, audit, accounts, now) : null;
  const evidence = new EvidenceService(storage, recordings, keys, audit, now);
  const playback = new RecordingPlayback(storage, recordings, keys, audit, now);
  const ctx: BrokerContext = { cfg, storage, keys, tokens, audit, limits, accounts, passkeys, policy, firstSignIn, oidc, sessions, hooks, metrics, cluster, now, recordings, evidence, playback,
    verifyAudit: async () => {
      await audit.flush();
      return verifyStoredLog({ dataDir: cfg.dataDir, databaseUrl: cfg.databaseUrl, pgSchema: cfg.pgSchema });
    },
  };
  let syslogClose: (() => Promise<void>) | null = null;
  if (cfg.syslog) {
    const { createSyslogSink } = await import('./audit/syslog.js');
    const sink = createSyslogSink(cfg.syslog);
    audit.onCommitted((e) => sink.send(e));
    syslogClose = () => sink.close();
  }

  let firstRun: Broker['firstRun'] = null;
  // First run means no admin account exists yet (an operator may have added other users first).
  const anyAdmin = await storage.db.selectFrom('accounts').select('id').where('roles', 'like', '%admin%').limit(1).executeTakeFirst();
  if (!anyAdmin) {
    const created = await accounts.create({ username: 'admin', display_name: 'Administrator', organisation: cfg.policy.organisation, kind: 'internal', roles: ['admin'] }, 'system');
    firstRun = { username: 'admin', one_time_password: created.one_time_password, otpauth_uri: created.otpauth_uri, totp_secret: created.totp_secret };
  }
  await audit.append({ type: 'broker.started', outcome: 'success', actor: 'system', meta: { engine: storage.engine, key: keys.active.kid } });

  const { app, hub, registry } = await buildApp(ctx);
  metrics.gauge('chaperone_live_sessions', 'Sessions that have not ended', () => sessions.live.size);
  metrics.gauge('chaperone_signaling_sockets', 'Authenticated signaling sockets', () => hub.socketCount);
  metrics.gauge('chaperone_audit_events_appended', 'Audit events appended since start', () => audit.appended);
  if (cluster) {
    // No instance resumes "everything" after its own start: sessions are taken over one by one
    // from instances whose leases lapsed (timer takeover), which is also what a restart is.
    await cluster.start({
      session: (sid, m) => hub.onClusterSession(sid, m),
      op: (sid, body) => hub.runHolderStep(sid, body),
      leaseWon: (sid, takeover) => sessions.armOwned(sid, takeover),
      leaseLost: (sid) => sessions.disarm(sid),
      changed: (sid) => void sessions.armOwned(sid, false).catch(() => undefined),
      ended: (sid, reason) => sessions.endedElsewhere(sid, reason as EndReason),
      notEnded: () => sessions.notEnded(),
      heldSockets: () => hub.heldSockets(),
      reconnected: () => void hub.reconcile(),
    });
    metrics.gauge('chaperone_cluster_leases', 'Sessions whose timers this instance runs', () => cluster.leaseCount);
  } else {
    await sessions.resumeAfterRestart();
  }
  sessions.startAccountWatch();
  sessions.startRetention();
  hooks.start();
  // Another broker on the database may save a policy: this one follows within POLICY_REFRESH_MS.
  const policyTimer = setInterval(() => void policy.refresh().catch(() => undefined), POLICY_REFRESH_MS);
  policyTimer.unref();

  let url = cfg.publicUrl;
  if (o.listen !== false) {
    await app.listen({ host: cfg.host, port: cfg.port });
    const addr = app.server.address();
    if (addr && typeof addr === 'object') {
      url = `${cfg.tls ? 'https' : 'http'}://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:${addr.port}`;
      // With --port 0 the configured URL names port 0; the OpenAPI document must name the real one.
      if (cfg.publicUrl.endsWith(':0')) cfg.publicUrl = url;
    }
  }
  return {
    ctx,
    app,
    hub,
    routes: registry.routes,
    firstRun,
    url,
    async close() {
      clearInterval(policyTimer);
      hooks.stop();
      sessions.shutdown();
      // Connections that never sent a request (a browser's speculative one) count as busy to
      // Node's close, which would then wait out the header timeout (about 70 s). Requests under
      // way get CLOSE_GRACE_MS to finish; then whatever is still open is cut.
      const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      cut.unref();
      await app.close();
      clearTimeout(cut);
      // Ends already told to the parties still sign their recording's manifest before the store goes.
      await sessions.drain();
      if (cluster) await cluster.close();
      await audit.append({ type: 'broker.stopped', outcome: 'success', actor: 'system', meta: {} }).catch(() => undefined);
      await audit.close();
      if (syslogClose) await syslogClose();
      await storage.close();
    },
  };
}
