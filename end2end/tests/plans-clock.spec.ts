import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { newCustomer, open, subscribe } from './helpers';

// Runs on a server of its own (see playwright.config.ts): it moves the app's clock, so its
// tests run one after another.
test.describe.configure({ mode: 'serial' });

/** Support moves the app's clock forward (the console says the date it reads), then
 * signs out, so the test carries on as the customer. */
async function moveClock(page: Page, testInfo: TestInfo, days: number) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await signIn(page, testInfo, 'support@studio.test', 'demo-password');
  await expect(page).toHaveURL(/\/support$/);
  const reads = page.getByTestId('clock-now');
  await expect(reads).toContainText("The app's date: ");
  const before = await reads.textContent();
  await page.getByLabel('Days forward').fill(String(days));
  await page.getByRole('button', { name: 'Move the clock' }).click();
  if (testInfo.project.use.javaScriptEnabled !== false) {
    await expect(page.getByTestId('clock-message')).toContainText("The app's clock now reads");
  }
  // Moved, and support is still signed in (sessions run on real time).
  await expect(reads).not.toHaveText(before ?? '');
  await expect(reads).toContainText(/\(\d+ days ahead of real time\)\.$/);
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeVisible();
  await page.context().clearCookies();
}

async function signIn(page: Page, testInfo: TestInfo, email: string, password: string) {
  await open(page, testInfo, '/sign-in');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('past the end of a cancelled plan, the grace period shows and resubscribing restores the plan', async ({ page }, testInfo) => {
  const email = await newCustomer(page, testInfo, 'grace');
  await subscribe(page, 'Starter');
  // Starter is the lowest tier: cancelling goes straight to the dates.
  await page.getByTestId('start-cancel').click();
  await page.getByTestId('confirm-cancel').getByRole('button', { name: 'Cancel subscription' }).click();
  await expect(page.getByTestId('plan-cancelled')).toBeVisible();

  // Support moves the clock past the end of the period.
  await moveClock(page, testInfo, 32);

  // The customer signs in again and finds the grace period.
  await signIn(page, testInfo, email, 'a long enough password');
  const ended = page.getByTestId('plan-ended');
  await expect(ended).toContainText(/Your Starter plan ended on \d{1,2} [A-Z][a-z]+ \d{4}\./);
  await expect(ended).toContainText('subscribe again before then to carry on with everything');
  // The page opens with it, not with "No plan yet".
  const banner = page.getByTestId('plan-ended-banner');
  await expect(banner).toContainText(/^Starter ended on \d{1,2} [A-Z][a-z]+ \d{4}\. Your projects and audio are kept until \d{1,2} [A-Z][a-z]+ \d{4}\./);
  await expect(banner.getByRole('link', { name: 'Resubscribe' })).toHaveAttribute('href', '#plans');
  await expect(page.getByTestId('plan-line')).toHaveText('No plan now: you are using top-up credits only.');
  await expect(page.getByTestId('balance-total')).toHaveText('0');

  await subscribe(page, 'Creator');
  await expect(page.getByTestId('balance-total')).toHaveText('5,000');
});

test('after the grace period the customer can still sign in, keeps their top-up credits and starts again', async ({ page }, testInfo) => {
  const email = await newCustomer(page, testInfo, 'purged');
  await subscribe(page, 'Starter');
  await page.getByRole('button', { name: 'Buy for $5 (500 credits)' }).click();
  await page.getByRole('button', { name: 'Pay $5' }).click();
  await expect(page.getByTestId('top-up-paid')).toContainText('500 credits were added');
  await page.getByRole('link', { name: 'Back to your subscription' }).click();
  await expect(page.getByTestId('balance-total')).toHaveText('1,500');
  await page.getByTestId('start-cancel').click();
  await page.getByTestId('confirm-cancel').getByRole('button', { name: 'Cancel subscription' }).click();
  await expect(page.getByTestId('plan-cancelled')).toBeVisible();

  // Past the period (31 days) and Starter's 30-day grace period: the purge has run.
  await moveClock(page, testInfo, 62);
  await signIn(page, testInfo, email, 'a long enough password');
  await expect(page).toHaveURL(/\/subscription$/);
  await expect(page.getByTestId('plan-purged')).toContainText('your top-up credits and payment history are still here');
  await expect(page.getByTestId('balance-total')).toHaveText('500');

  await subscribe(page, 'Starter');
  await expect(page.getByTestId('balance-total')).toHaveText('1,500');
});
