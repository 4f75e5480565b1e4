/** Size limits shared by every parser; the broker and clients refuse anything larger. */
export const MAX_SIGNALING_FRAME_BYTES = 64 * 1024;
export const MAX_HTTP_BODY_BYTES = 64 * 1024;
export const MAX_SDP_CHARS = 48 * 1024;
export const MAX_CANDIDATE_CHARS = 1024;
export const MAX_TEXT_CHARS = 500;
export const MAX_TICKET_CHARS = 64;
export const MAX_NAME_CHARS = 120;
export const MAX_TOKEN_CHARS = 4096;
