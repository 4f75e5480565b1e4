import type { Kysely, Selectable } from 'kysely';
import type { AuditLog } from '../audit/log.js';
import type { TokenService } from '../auth/tokens.js';
import type { Clock } from '../clock.js';
import type { BrokerConfig } from '../config.js';
import type { KeyRing } from '../keys.js';
import type { LimitStore } from '../storage/limits.js';
import type { RecordingStore } from '../storage/recording-store.js';
import type { Database, SessionsTable } from '../storage/schema.js';
import type { PostSessionHooks, SessionEvents } from './events.js';
import type { LiveSession } from './live.js';
import type { TimerPlacement } from './placement.js';
import type { StateWatch } from './state-watch.js';

export type Row = Selectable<SessionsTable>;

/**
 * What every part of the lifecycle shares: the stores it writes, the clock, the sessions that
 * have not ended, and whom to tell. Built once by SessionService; the parts are functions over it.
 */
export interface SessionCore {
  readonly cfg: BrokerConfig;
  readonly db: Kysely<Database>;
  readonly engine: 'sqlite' | 'postgres';
  readonly audit: AuditLog;
  readonly tokens: TokenService;
  readonly clock: Clock;
  readonly hooks: PostSessionHooks;
  /** Shared counters (the wrong-join-code limits), in the database. */
  readonly limits: LimitStore;
  readonly live: Map<string, LiveSession>;
  /** Where recording chunks, manifests and transcripts are kept (the data dir by default). */
  readonly recordings: RecordingStore;
  /** The broker's signing keys: the recording manifest is signed with the active one. */
  readonly keys: KeyRing;
  events: SessionEvents | null;
  /** Cluster mode: which instance runs each session's timers (null: this one, alone). */
  placement: TimerPlacement | null;
  /** Told of every state change, for the analyst's event stream. */
  readonly stateWatch: StateWatch;
  /**
   * Session ends still under way. The parties are told of an end before its recording's manifest
   * is signed, so a broker stopping right after (a service stop, a test's teardown) waits for
   * these before it closes the database and the recording store under them.
   */
  readonly ending: Set<Promise<unknown>>;
  /**
   * The watch code (watchers.ts), reached through this port: it ends sessions and refreshes
   * cluster copies itself, so ending, grants and replicas importing it would make a circle.
   */
  readonly watch: WatchPort;
}

/** What the rest of the session code asks of the watch code (SessionCore.watch; set by the service). */
export interface WatchPort {
  /** Why control may not be asked for now (suspended, or too few required watchers); null when it may. */
  controlRefusal(live: LiveSession): Promise<{ code: string; why: string; message: string } | null>;
  /** Another instance changed who watches: read again from the row; false when nothing is live here. */
  reload(live: LiveSession, row?: Row): Promise<boolean>;
}

