import { z } from 'zod';
import { JOIN_CODE_LENGTH, formatJoinCode, normalizeJoinCode } from '../../common/join-code.js';
import { JoinLinkPageSchema } from '../../common/protocol/responses.js';
import type { BrokerContext } from '../context.js';
import type { RouteRegistry } from '../http/registry.js';

/**
 * The https form of a join link (`https://broker/join/CODE`), for tickets and chat tools that do
 * not turn `chaperone://` into a link. The page only hands the code to the app: it never looks the
 * code up (a page that said "valid" or "expired" would be a guessing oracle without the join
 * limits), and nothing on it loads from anywhere.
 */
const JoinLinkParams = z.object({ code: z.string().min(JOIN_CODE_LENGTH).max(JOIN_CODE_LENGTH + 1).regex(/^[0-9A-Za-z-]+$/) }).strict();

export function joinLinkRoutes(r: RouteRegistry, _ctx: BrokerContext): void {
  r.add({
    method: 'GET',
    url: '/join/:code',
    summary: 'A join link for people: a page that opens chaperone://join/CODE in the app and shows the code to type (the code is not looked up)',
    tag: 'end user',
    auth: 'none',
    params: JoinLinkParams,
    response: JoinLinkPageSchema,
    responses: { 200: 'an HTML page', 400: 'not a join code' },
    handler: async ({ params, reply }) => {
      const code = normalizeJoinCode(params.code);
      reply.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
      reply.type('text/html; charset=utf-8');
      return page(code ? formatJoinCode(code) : null);
    },
  });
}

function page(code: string | null): string {
  const body = code
    ? `<h1>Open Chaperone to get help</h1>
<p><a href="chaperone://join/${code}" style="display:inline-block;padding:0.6rem 1rem;background:#0f6b2f;color:#fff;border-radius:0.3rem;font-weight:bold">Open Chaperone with this code</a></p>
<p>If nothing happens, open Chaperone yourself and type this join code:</p>
<p style="font:bold 2rem monospace;letter-spacing:0.1em">${code}</p>
<p>The code works once and only for a few minutes. Nothing is shared until you have seen who is asking and pressed Accept.</p>`
    : `<h1>This is not a join code</h1><p>Check the link with the person helping you, or type the code they read to you into Chaperone.</p>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Chaperone: join a support session</title></head>
<body style="font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a"><main>${body}</main></body></html>`;
}
