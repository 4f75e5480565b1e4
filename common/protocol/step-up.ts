import { z } from 'zod';

export const StepUpBody = z.object({ totp: z.string().regex(/^\d{6}$/) }).strict();
export const SteppedUpSchema = z.object({ mfa_at: z.number().int().nonnegative() });
