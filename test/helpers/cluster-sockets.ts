import type { TestBroker, TestUser } from '../../kit/broker.js';
import { waitUntil, type TestCluster } from '../../kit/cluster.js';
import type { ActiveSession } from '../../kit/lifecycle.js';
import { SignalingClient } from '../../kit/signaling-client.js';

/** The balancer as kit/lifecycle's helpers take a broker (they only need its URL). */
export function viaBalancer(c: TestCluster): TestBroker {
  return { url: c.url } as TestBroker;
}

/**
 * Connects one side through the balancer and says which instance holds the socket (the one whose
 * socket count went up). `avoid`: instances it must not land on; the balancer's round robin is
 * asked again (a fresh connection) until it lands elsewhere.
 */
export async function connectVia(c: TestCluster, token: string, device: TestUser['api']['device'], avoid: number[] = []): Promise<{ client: SignalingClient; on: number }> {
  for (let attempt = 0; attempt < 12; attempt++) {
    const before = await c.socketMap();
    const client = await SignalingClient.connect(c.url, token, device);
    let on = -1;
    await waitUntil(async () => {
      const after = await c.socketMap();
      on = after.findIndex((n, i) => n > (before[i] ?? 0));
      return on >= 0;
    }, 'the socket to show in an instance');
    if (!avoid.includes(on)) return { client, on };
    client.ws.close();
    await client.closed();
    await waitUntil(async () => (await c.sockets(on)) === before[on], 'the socket to go');
  }
  throw new Error('the balancer kept sending the socket to the same instance');
}

/** Both sides of an active session on two different instances, the end user first. */
export async function connectApart(c: TestCluster, analyst: TestUser, s: ActiveSession, notOn: number[] = []) {
  const eu = await connectVia(c, s.endUserToken, s.endUser.device, notOn);
  const an = await connectVia(c, s.analystToken, analyst.api.device, [...notOn, eu.on]);
  return { eu: eu.client, euOn: eu.on, an: an.client, anOn: an.on };
}

/**
 * What a client does when its socket drops: connect again through the balancer with the same
 * token until it is taken (the balancer needs a moment to stop sending work to a dead instance).
 */
export async function reconnect(c: TestCluster, token: string, device: TestUser['api']['device'], withinMs = 15_000): Promise<SignalingClient> {
  const end = Date.now() + withinMs;
  let last: unknown = null;
  while (Date.now() < end) {
    try {
      return await SignalingClient.connect(c.url, token, device);
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`could not reconnect within ${withinMs} ms: ${String((last as Error)?.message ?? last)}`);
}
