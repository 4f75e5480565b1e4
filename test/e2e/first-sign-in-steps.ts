/** A newcomer's first sign-in through the app's screens, from a one-time password (shared by the e2e files). */
import type { Page } from 'playwright-core';
import { totpAt, totpStep } from '../../broker/auth/totp.js';

export async function firstSignIn(page: Page, username: string, oneTimePassword: string, password: string): Promise<{ totpSecret: string }> {
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(oneTimePassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Choose your password' }).waitFor();
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('The same password again').fill(password);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
  // What a person types into their authenticator app: the key as the screen shows it.
  const totpSecret = (await page.getByTestId('totp-secret').textContent())!.replace(/ /g, '');
  await page.getByLabel('Code from the app').fill(totpAt(totpSecret, totpStep(Date.now())));
  await page.getByRole('button', { name: 'Confirm and sign in' }).click();
  await page.getByTestId('staff-name').waitFor();
  return { totpSecret };
}
