import type { AuditLog } from './audit/log.js';
import type { EvidenceService } from './audit/evidence-service.js';
import type { RecordingPlayback } from './sessions/recording-playback.js';
import type { VerifyResult } from './audit/verify.js';
import type { AccountService } from './auth/accounts.js';
import type { FirstSignIn } from './auth/first-sign-in.js';
import type { PasskeyService } from './auth/passkeys.js';
import type { PolicyStore } from './policy-store.js';
import type { OidcService } from './auth/oidc.js';

import type { TokenService } from './auth/tokens.js';
import type { Cluster } from './cluster/cluster.js';
import type { BrokerConfig } from './config.js';
import type { HookDispatcher } from './hooks/outbound.js';
import type { KeyRing } from './keys.js';
import type { Metrics } from './metrics.js';
import type { SessionService } from './sessions/service.js';
import type { Storage } from './storage/db.js';
import type { LimitStore } from './storage/limits.js';
import type { RecordingStore } from './storage/recording-store.js';

/** Everything a route or the signaling hub needs, built once by the composition root (broker/broker.ts). */
export interface BrokerContext {
  cfg: BrokerConfig;
  storage: Storage;
  keys: KeyRing;
  tokens: TokenService;
  audit: AuditLog;
  /** Shared counters and replay caches: DPoP proof ids, join-code failures (storage/limits.ts). */
  limits: LimitStore;
  accounts: AccountService;
  firstSignIn: FirstSignIn;
  /** The organisation's policy as the console edits it (in force in cfg.policy). */
  policy: PolicyStore;
  /** Passkeys (WebAuthn) as a second factor: adding, removing, step-up. */
  passkeys: PasskeyService;
  /** Single sign-on (broker.json `oidc`); null when none is configured. */
  oidc: OidcService | null;
  sessions: SessionService;
  hooks: HookDispatcher;
  metrics: Metrics;
  /** Cluster mode (REDIS_URL): this instance's seat among the others; null for a lone broker. */
  cluster: Cluster | null;
  /** Recording bytes (storage/recording-store.ts): read by the evidence export and the player. */
  recordings: RecordingStore;
  /** The evidence bundle of a session (audit/evidence-export.ts), audited per export. */
  evidence: EvidenceService;
  /** The Recordings screen: the list, playback tickets (audited as recording.viewed), the file, the markers. */
  playback: RecordingPlayback;
  /** The stored chain checked as `audit verify` checks it, after what is queued is committed (the console's Verify). */
  verifyAudit(): Promise<VerifyResult>;
  now: () => number;
}
