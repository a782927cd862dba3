import { expect, test, type Page, type TestInfo } from '@playwright/test';
import { newCustomer, open } from './helpers';

// The server's demo data has support@studio.test; playwright.config.ts makes a second
// support user through the operator's command line (`studio-billing user create`).
const SUPPORT = { email: 'support@studio.test', password: 'demo-password' };
const SECOND = { email: 'support2@studio.test', password: 'second support password' };

async function signIn(page: Page, testInfo: TestInfo, who: { email: string; password: string }) {
  await open(page, testInfo, '/sign-in');
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/support$/);
}

async function signOut(page: Page) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('link', { name: 'Sign in' })).toBeVisible();
}

async function findCustomer(page: Page, email: string) {
  await page.getByLabel('Customer e-mail').fill(email);
  await page.getByRole('button', { name: 'Find customer' }).click();
  await expect(page.getByRole('heading', { level: 2, name: email })).toBeVisible();
}

test('a grant above the limit waits for a second support user, who approves it', async ({ page }, testInfo) => {
  const customer = await newCustomer(page, testInfo, 'approval');
  await signOut(page);

  await signIn(page, testInfo, SUPPORT);
  await findCustomer(page, customer);
  const reason = `Goodwill for a long outage (${testInfo.project.name} ${Date.now()})`;
  await page.getByLabel('Credits', { exact: true }).fill('20000');
  await page.getByLabel('Reason (kept in the audit list)').fill(reason);
  await page.getByRole('button', { name: 'Apply' }).click();
  // The page comes back saying what was done, with JavaScript or without.
  await expect(page.getByRole('status').filter({ hasText: 'waits for another support user' })).toContainText(
    'nothing has changed yet',
  );
  // Nothing granted yet: the journal does not have it.
  await findCustomer(page, customer);
  await expect(page.getByRole('table', { name: /customer's credit changes/ })).toHaveCount(0);

  const waiting = page.getByRole('table', { name: /Adjustments above the limit/ });
  const row = waiting.getByRole('row').filter({ hasText: reason });
  await expect(row).toContainText('+20,000');
  await expect(row).toContainText(SUPPORT.email);
  // The one who asked cannot approve it.
  await row.getByRole('button', { name: 'Approve' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Another support user must approve' })).toBeVisible();
  await signOut(page);

  await signIn(page, testInfo, SECOND);
  await page
    .getByRole('table', { name: /Adjustments above the limit/ })
    .getByRole('row')
    .filter({ hasText: reason })
    .getByRole('button', { name: 'Approve' })
    .click();
  await expect(page.getByRole('status').filter({ hasText: /^Approved request/ })).toContainText(
    `20,000 credits for ${customer}`,
  );
  await expect(page.getByRole('table', { name: /Adjustments above the limit/ }).getByRole('row').filter({ hasText: reason })).toHaveCount(0);

  // Both names are in the audit list, and the grant is in the customer's journal.
  await expect(page.getByRole('table', { name: 'Manual changes, newest first' }).getByRole('row').filter({ hasText: reason })).toContainText(
    `${SUPPORT.email}, approved by ${SECOND.email}`,
  );
  await findCustomer(page, customer);
  const journal = page.getByRole('table', { name: /customer's credit changes/ });
  await expect(journal).toContainText(reason);
  await expect(journal).toContainText('+20,000');
});

test('a customer who opens a support page is told plainly it is not theirs', async ({ page }, testInfo) => {
  await open(page, testInfo, '/sign-in');
  await page.getByLabel('E-mail').fill('demo@studio.test');
  await page.getByLabel('Password').fill('demo-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/subscription$/);
  await open(page, testInfo, '/support/operations');
  await expect(page.getByTestId('not-staff')).toContainText('This page is for Studio\'s support staff');
  await expect(page.getByRole('heading', { name: 'Webhook deliveries' })).toHaveCount(0);
  await open(page, testInfo, '/support');
  await expect(page.getByRole('heading', { level: 1, name: 'Support staff only' })).toBeVisible();
  await expect(page.getByTestId('not-staff').getByRole('link', { name: 'Subscription page' })).toHaveAttribute('href', '/subscription');
  await expect(page.getByRole('heading', { name: 'Waiting for a second approval' })).toHaveCount(0);
});
