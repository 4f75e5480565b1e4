import type { AccountView, MeView } from '../../common/protocol/responses.js';

/** A staff account as the broker hands it around and answers it (common/protocol/responses.ts). */
export type Account = AccountView;

/**
 * The account a request was authenticated as (broker/http/auth.ts): never a disabled one, and
 * with the token epoch its token carried (what a session it asks for is stamped with).
 */
export type SignedInAccount = MeView & { token_epoch: number };
