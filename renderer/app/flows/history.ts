import { HistoryPageSchema, type HistoryPage, type HistoryRow } from '../../../common/protocol/history.js';
import type { EndReason } from '../../../common/session-state.js';
import { staffBroker } from '../services.js';

/** Session history: the broker decides whose sessions come back (an analyst's own, or everyone's). */

export type { HistoryPage, HistoryRow };

export interface HistoryFilters {
  q: string;
  analyst: string;
  ended: EndReason | '';
  /** yyyy-mm-dd from a date field, or empty. */
  from: string;
  to: string;
}

export const NO_HISTORY_FILTERS: HistoryFilters = { q: '', analyst: '', ended: '', from: '', to: '' };

const DAY_MS = 86_400_000;
export const HISTORY_PAGE = 25;

export async function loadHistory(f: HistoryFilters, before: string | null = null): Promise<HistoryPage> {
  const q = new URLSearchParams();
  if (f.q.trim()) q.set('q', f.q.trim());
  if (f.analyst.trim()) q.set('analyst', f.analyst.trim());
  if (f.ended) q.set('ended', f.ended);
  // Dates are the reader's local days: from the start of `from` to the end of `to`.
  if (f.from) q.set('from', String(new Date(`${f.from}T00:00`).getTime()));
  if (f.to) q.set('to', String(new Date(`${f.to}T00:00`).getTime() + DAY_MS));
  q.set('limit', String(HISTORY_PAGE));
  if (before) q.set('before', before);
  return staffBroker().get(`/api/v1/sessions/history?${q.toString()}`, HistoryPageSchema);
}
