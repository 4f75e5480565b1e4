/** The part of oidc-provider 9 the test identity provider uses (the package ships no types). */
declare module 'oidc-provider' {
  import type http from 'node:http';
  interface Interaction {
    uid: string;
    prompt: { name: string };
    session?: { accountId: string };
    params: Record<string, unknown>;
  }
  class Grant {
    constructor(o: { accountId: string; clientId: string });
    addOIDCScope(scope: string): void;
    save(): Promise<string>;
  }
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown> & {
      interactions?: { url: (ctx: unknown, interaction: { uid: string }) => string };
      findAccount?: (ctx: unknown, id: string) => Promise<{ accountId: string; claims: () => Promise<Record<string, unknown>> } | undefined>;
    });
    Grant: typeof Grant;
    callback(): http.RequestListener;
    interactionDetails(req: http.IncomingMessage, res: http.ServerResponse): Promise<Interaction>;
    interactionFinished(req: http.IncomingMessage, res: http.ServerResponse, result: Record<string, unknown>, opts?: { mergeWithLastSubmission?: boolean }): Promise<void>;
  }
}
