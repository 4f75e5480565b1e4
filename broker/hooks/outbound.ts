import crypto from 'node:crypto';
import type { AuditLog } from '../audit/log.js';
import type { BrokerConfig } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Storage } from '../storage/db.js';
import type { HookDeliveriesTable } from '../storage/schema.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook } from './signature.js';

/** Seconds to wait before each retry; after the last one the delivery is recorded as failed. */
export const RETRY_DELAYS_S = [1, 5, 30, 120, 600];

/**
 * Post-session hooks, delivered from an outbox: every delivery is a row first, written in the same
 * transaction as the event it reports (so neither a crash nor a restart loses it), then an HTTP
 * POST signed like the inbound webhook, retried with backoff; failures stay listed for operators.
 */
export class HookDispatcher {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;

  constructor(
    private readonly cfg: BrokerConfig,
    private readonly storage: Storage,
    private readonly audit: AuditLog,
    private readonly metrics: Metrics,
    private readonly now: () => number,
    private readonly retryDelaysS: number[] = RETRY_DELAYS_S,
  ) {}

  start(): void {
    this.stopped = false;
    this.kick(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * The outbox rows for an event, one per hook subscribed to it. The caller writes them in the
   * same transaction as whatever the event is about (a session's end), then calls kick().
   */
  deliveries(eventType: string, data: Record<string, unknown>, now: number = this.now()): HookDeliveriesTable[] {
    const targets = this.cfg.hooks.filter((h) => h.events.includes(eventType) || h.events.includes('*'));
    if (targets.length === 0) return [];
    const eventId = crypto.randomUUID();
    const payload = JSON.stringify({ id: eventId, type: eventType, created_at: new Date(now).toISOString(), data });
    return targets.map((h) => ({
      id: crypto.randomUUID(),
      event_type: eventType,
      url: h.url,
      payload,
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      last_error: null,
      created_at: now,
      delivered_at: null,
    }));
  }

  /**
   * An admin's retry of a failed delivery: one more attempt now, from the outbox as any other (a
   * failure puts it back to failed; the automatic backoff is not started again). Only a failed one:
   * a pending one is being retried already, a delivered one is done.
   */
  async retry(id: string, actor: string): Promise<boolean> {
    const upd = await this.storage.db.updateTable('hook_deliveries').set({ status: 'pending', next_attempt_at: this.now() }).where('id', '=', id).where('status', '=', 'failed').returning(['event_type', 'url', 'attempts']).executeTakeFirst();
    if (!upd) return false;
    await this.audit.append({ type: 'hook.retried', outcome: 'success', actor, meta: { delivery_id: id, event_type: upd.event_type, url_host: safeHost(upd.url), attempts: upd.attempts } });
    this.kick(0);
    return true;
  }

  private kickWhileRunning = false;

  /** Rows were written to the outbox: deliver them now. */
  kick(delayMs = 0): void {
    if (this.stopped) return;
    // A delivery queued while a drain runs would otherwise wait for the next event.
    if (this.running) this.kickWhileRunning = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drain(), delayMs);
    this.timer.unref();
  }

  private async drain(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      const due = await this.storage.db.selectFrom('hook_deliveries').selectAll().where('status', '=', 'pending').where('next_attempt_at', '<=', this.now()).limit(50).execute();
      await Promise.all(due.map((d) => this.attempt(d)));
      const next = await this.storage.db.selectFrom('hook_deliveries').select('next_attempt_at').where('status', '=', 'pending').orderBy('next_attempt_at').limit(1).executeTakeFirst();
      if (next) this.kick(Math.max(10, next.next_attempt_at - this.now()));
    } catch (err) {
      if (!this.stopped) process.stderr.write(`webhook delivery loop: ${String(err)}\n`);
    } finally {
      this.running = false;
      if (this.kickWhileRunning) {
        this.kickWhileRunning = false;
        this.kick(0);
      }
    }
  }

  private async attempt(d: { id: string; url: string; payload: string; attempts: number; event_type: string }): Promise<void> {
    const hook = this.cfg.hooks.find((h) => h.url === d.url);
    const attempts = d.attempts + 1;
    let error: string | null = null;
    if (!hook) error = 'hook no longer configured';
    else {
      const ts = Math.floor(this.now() / 1000);
      try {
        const res = await fetch(d.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: String(ts), [SIGNATURE_HEADER]: signWebhook(hook.secret, ts, d.payload), 'user-agent': 'chaperone-broker' },
          body: d.payload,
          redirect: 'manual',
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
        await res.body?.cancel().catch(() => undefined);
      } catch (e) {
        error = (e as Error).message.slice(0, 200);
      }
    }
    const now = this.now();
    if (error === null) {
      await this.storage.db.updateTable('hook_deliveries').set({ status: 'delivered', attempts, delivered_at: now, last_error: null }).where('id', '=', d.id).execute();
      return;
    }
    this.metrics.hookFailures({ event: d.event_type });
    // Past the schedule (also after an admin's retry of a failed one): failed again.
    const delay = this.retryDelaysS[attempts - 1];
    const failed = delay === undefined || !hook;
    await this.storage.db
      .updateTable('hook_deliveries')
      .set({ status: failed ? 'failed' : 'pending', attempts, last_error: error, next_attempt_at: failed ? now : now + delay * 1000 })
      .where('id', '=', d.id)
      .execute();
    if (failed) {
      await this.audit.append({ type: 'hook.delivery_failed', outcome: 'failure', actor: 'system', meta: { delivery_id: d.id, event_type: d.event_type, url_host: safeHost(d.url), attempts, error } });
    }
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'invalid';
  }
}
