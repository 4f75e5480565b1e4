import { DomainError } from '../domain-errors.js';
import type { SessionCore } from './core.js';
import { endSession } from './ending.js';
import { SYSTEM } from './types.js';

/** How many account ids go into one query. */
const CHUNK = 500;

/**
 * Ends the sessions of analysts whose account stopped counting when the change was made
 * somewhere this process was not told of: the CLI (its own process on the same database), or
 * another broker sharing it. Changes through this broker's API end the sessions at once
 * (AccountService.onRevoked); this catches the rest within one interval. One query per interval,
 * for the analysts of the sessions this broker holds.
 */
export class AccountWatch {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly core: SessionCore) {}

  start(intervalMs: number): void {
    this.stop();
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One pass: every live session whose analyst is gone, disabled, or on a newer epoch ends. */
  async check(): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      // In a cluster each session is watched by the instance running its timers, not by all.
      const placement = this.core.placement;
      const live = [...this.core.live.values()].filter((l) => !placement || placement.owns(l.id));
      const ids = [...new Set(live.map((l) => l.analystId))];
      const accounts = new Map<string, { disabled: number; token_epoch: number }>();
      for (let i = 0; i < ids.length; i += CHUNK) {
        const rows = await this.core.db.selectFrom('accounts').select(['id', 'disabled', 'token_epoch']).where('id', 'in', ids.slice(i, i + CHUNK)).execute();
        for (const r of rows) accounts.set(r.id, r);
      }
      let ended = 0;
      for (const l of live) {
        const a = accounts.get(l.analystId);
        if (a && !a.disabled && a.token_epoch === l.analystEpoch) continue;
        try {
          await endSession(this.core, l.id, 'account_revoked', SYSTEM, {}, { why: !a ? 'account gone' : a.disabled ? 'disabled' : 'tokens revoked', by: 'watch' });
          ended++;
        } catch (e) {
          if (!(e instanceof DomainError)) throw e;
        }
      }
      return ended;
    } catch (err) {
      process.stderr.write(`account watch: ${String((err as Error)?.message ?? err)}\n`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
