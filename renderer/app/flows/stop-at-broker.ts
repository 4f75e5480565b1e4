import type { END_USER_STOP_REASONS } from '../../../common/protocol/api.js';
import { SessionStoppedSchema } from '../../../common/protocol/responses.js';
import { BrokerClient } from '../broker-client.js';
import { endUserBroker, getBridge } from '../services.js';

/**
 * The end user accepted, then sharing never began (the screen or a required recording could not
 * start). There is no signaling socket yet to say so, and without this the analyst would wait on a
 * session that shows nothing until its time ran out: the broker hears it over HTTP with the
 * session's own token. A failure here changes nothing on this machine (nothing was shared).
 */
export async function stopAtBroker(sessionId: string, token: string, reason: (typeof END_USER_STOP_REASONS)[number]): Promise<void> {
  const client = new BrokerClient(getBridge(), endUserBroker().baseUrl);
  client.tokens = { access: token, refresh: null };
  await client.call('POST', `/api/v1/sessions/${encodeURIComponent(sessionId)}/stop`, SessionStoppedSchema, { reason }).then(
    () => undefined,
    (err: unknown) => console.warn('the broker did not hear that the session stopped:', (err as Error).message),
  );
}
