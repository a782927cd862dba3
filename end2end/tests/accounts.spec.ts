import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { jsOn, open } from './helpers';

const PASSWORD = 'demo-password';

async function signIn(page: Page, testInfo: TestInfo, email: string, password = PASSWORD) {
  await open(page, testInfo, '/sign-in');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('the demo customer signs in, sees their subscription, and signs out', async ({ page }, testInfo) => {
  await open(page, testInfo, '/sign-in');
  await expect(page.getByText('Demo mode.')).toBeVisible();
  await signIn(page, testInfo, 'demo@studio.test');
  await expect(page).toHaveURL(/\/subscription$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Subscription' })).toBeVisible();
  await expect(page.getByTestId('plan-line')).toHaveText('Creator plan: 5,000 credits each billing period.');
  await expect(page.getByTestId('balance-total')).toHaveText(/^[\d,]+$/);
  await expect(page.getByRole('heading', { name: 'What gets spent next' })).toBeVisible();
  await expect(page.getByRole('img', { name: 'Credits used per day' })).toBeVisible();

  // The failed generation's receipt shows what came back and why (P8).
  const failed = page.locator('details.receipt', { hasText: 'Credited back' }).first();
  await failed.locator('summary').click();
  await expect(failed).toContainText('Narration failed halfway (voice service error)');
  await expect(failed).toContainText('Estimate before it started');

  // The chart's numbers as a table, without the picture.
  await page.getByText('Show the numbers by day').click();
  await expect(page.getByRole('table', { name: 'Credits used per day' })).toBeVisible();

  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
  await page.goto('/subscription');
  await expect(page.getByText('Please sign in to see this page.')).toBeVisible();
});

test('a wrong password says so without signing in', async ({ page }, testInfo) => {
  await signIn(page, testInfo, 'demo@studio.test', 'not-the-password');
  await expect(page.getByRole('alert')).toContainText("don't match an account");
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
});

test('support finds the demo customer, corrects a charge and sees it in the journal', async ({ page }, testInfo) => {
  await signIn(page, testInfo, 'support@studio.test');
  await expect(page).toHaveURL(/\/support$/);
  await page.getByLabel('Customer e-mail').fill('demo@studio.test');
  await page.getByRole('button', { name: 'Find customer' }).click();
  await expect(page.getByRole('heading', { level: 2, name: 'demo@studio.test' })).toBeVisible();
  await expect(page.getByTestId('customer-plan')).toHaveText('Creator plan');
  await expect(page.getByTestId('customer-subscription')).toContainText(/^Creator: active, period .+ to .+; renews .+\./);
  await expect(page.getByRole('table', { name: 'Payments, newest first' })).toContainText('Creator plan: 5,000 credits');
  const reason = `Refund for a double-charged export (${testInfo.project.name})`;
  await page.getByLabel('Credits', { exact: true }).fill('25');
  await page.getByLabel('Reason (kept in the audit list)').fill(reason);
  await page.getByRole('button', { name: 'Apply' }).click();
  const journal = page.getByRole('table', { name: /customer's credit changes/ });
  await expect(journal).toContainText(reason);
  await expect(journal).toContainText('+25');
  await expect(page.getByRole('table', { name: 'Manual changes, newest first' })).toContainText(reason);
});

test('the demo customer reads their credit history, in their words, and filters it', async ({ page }, testInfo) => {
  await signIn(page, testInfo, 'demo@studio.test');
  await expect(page).toHaveURL(/\/subscription$/);
  await page.getByTestId('history-link').click();
  await expect(page).toHaveURL(/\/history$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Your credit history' })).toBeVisible();
  const table = page.getByRole('table', { name: 'Your credit changes, newest first' });
  await expect(table).toContainText('Creator plan: credits for this period');
  await expect(table.locator('td:nth-child(2)', { hasText: / charged$/ }).first()).toBeVisible();
  // The newest first, by the times shown.
  const when = await table.locator('tbody tr td:first-child').allTextContents();
  const times = when.map((w) => Date.parse(w.replace(',', '')));
  expect(times.length).toBeGreaterThan(3);
  expect([...times].sort((a, b) => b - a)).toEqual(times);

  await page.getByLabel('Show', { exact: true }).selectOption('added');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page).toHaveURL(/\/history\?kind=added$/);
  const added = page.getByRole('table', { name: 'Your credit changes, newest first' });
  await expect(added).toContainText('Creator plan: credits for this period');
  await expect(added).toContainText('Top-up bought (these credits never expire)');
  await expect(added.locator('td:nth-child(2)', { hasText: / charged$/ })).toHaveCount(0);
  await page.getByLabel('Show', { exact: true }).selectOption('expired');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(page.getByText('No changes of this kind yet.')).toBeVisible();
});

test('the header stays on one line with a long e-mail, and "Sign out" never breaks on a phone', async ({ page }, testInfo) => {
  await signIn(page, testInfo, 'demo@studio.test');
  await expect(page).toHaveURL(/\/subscription$/);
  // A long address, as some customers have.
  await page.locator('.viewer-email').evaluate((el) => {
    el.textContent = 'a.very.long.name.of.someone.at.a.company@subdomain.example-company.com';
  });
  const header = page.locator('.header-row');
  const signOut = page.getByRole('button', { name: 'Sign out' });
  await page.setViewportSize({ width: 1280, height: 800 });
  const brand = await page.locator('.brand').boundingBox();
  const out = await signOut.boundingBox();
  expect(Math.abs((out?.y ?? 0) - (brand?.y ?? 0))).toBeLessThan(16); // the same line
  await page.setViewportSize({ width: 390, height: 800 });
  const phone = await signOut.boundingBox();
  expect(phone?.height ?? 100).toBeLessThan(40); // one line of text
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await expect(header).toBeVisible();
});

test.describe('in New York', () => {
  test.use({ timezoneId: 'America/New_York' });

  test('times are shown in the customer\'s time zone, named; without JavaScript it is chosen in the profile', async ({ page }, testInfo) => {
    await signUpFresh(page, testInfo);
    const zoneLine = page.getByTestId('zone-line');
    if (jsOn(testInfo)) {
      // The browser's zone became the new customer's setting.
      await expect(zoneLine).toContainText('Times are in America/New_York.');
      await open(page, testInfo, '/account');
      await expect(page.getByTestId('time-zone-now')).toHaveText('Times are shown in America/New_York.');
    } else {
      await expect(zoneLine).toContainText('Times are in UTC.');
      await zoneLine.getByRole('link', { name: 'Change time zone' }).click();
      await expect(page).toHaveURL(/\/account#time-zone$/);
      await page.getByLabel('Your time zone').selectOption('America/New_York');
      await page.getByRole('button', { name: 'Save' }).click();
      await expect(page).toHaveURL(/\/account#time-zone$/);
      await expect(page.getByTestId('time-zone-saved')).toHaveText('Times are now shown in America/New_York.');
      await expect(page.getByTestId('time-zone-now')).toHaveText('Times are shown in America/New_York.');
      await expect(zoneLine).toContainText('Times are in America/New_York.');
    }
    // The credit history's times read in it, with its name (EST or EDT).
    await open(page, testInfo, '/history');
    const first = page.locator('tbody tr td:first-child').first();
    await expect(first).toHaveText(/^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2} E[SD]T$/);
  });
});

async function signUpFresh(page: Page, testInfo: TestInfo) {
  const email = `zone-${testInfo.project.name}-${Date.now()}@example.com`;
  await open(page, testInfo, '/sign-up');
  if (jsOn(testInfo)) {
    // The first page the browser app runs on offers the browser's zone and is shown
    // again in it.
    await expect(page.getByTestId('zone-line')).toContainText('Times are in America/New_York.', { timeout: 15_000 });
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1, { timeout: 15_000 });
  }
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/subscription$/);
  // Something in the history: a top-up.
  await page.getByRole('button', { name: 'Buy for $5 (500 credits)' }).click();
  await page.getByRole('button', { name: 'Pay $5' }).click();
  await expect(page.getByTestId('top-up-paid')).toBeVisible();
  await open(page, testInfo, '/subscription');
}
