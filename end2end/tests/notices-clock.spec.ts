import { expect, test } from '@playwright/test';
import { newCustomer, subscribe } from './helpers';

// Notices (issue 16, P17): a customer asks to be told at 50% and 80% of a period's
// credits and turns the low-balance e-mail off; the page keeps what they chose, and once
// half the period's credits are used it says so. It runs on the servers of the clock
// tests (one for each JavaScript setting, with their own allowance of sign-ups), one test
// after another, never moving the clock.
test.describe.configure({ mode: 'serial' });

test('ask to be told at 50% and 80%, then see the alert once half is used (P17)', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'notices');
  await subscribe(page, 'Starter');
  const notices = page.locator('#notices');
  await expect(notices.getByRole('heading', { name: 'Notices' })).toBeVisible();
  // The defaults: every e-mail on, no usage alerts.
  await expect(notices.getByLabel('50%')).not.toBeChecked();
  await expect(notices.getByLabel('my balance is running low')).toBeChecked();
  await expect(page.getByTestId('usage-alert')).toHaveCount(0);

  await notices.getByLabel('50%').check();
  await notices.getByLabel('80%').check();
  await notices.getByLabel('my balance is running low').uncheck();
  await notices.getByRole('button', { name: 'Save notices' }).click();
  await expect(page.getByTestId('notices-saved')).toHaveText('Your notice settings are saved.');
  await expect(page).toHaveURL(/\/subscription#notices$/);
  await expect(notices.getByLabel('50%')).toBeChecked();
  await expect(notices.getByLabel('80%')).toBeChecked();
  await expect(notices.getByLabel('100%')).not.toBeChecked();
  await expect(notices.getByLabel('my balance is running low')).not.toBeChecked();
  await expect(notices.getByLabel('a cancelled plan ends in 3 days')).toBeChecked();

  // About 600 of Starter's 1,000 credits: past the 50% asked about, short of 80%.
  const panel = page.locator('#try');
  await panel.getByLabel('Operation').selectOption('music');
  await panel.getByLabel('Size').fill('300');
  await panel.getByRole('button', { name: 'Run it' }).click();
  await expect(page.getByTestId('try-done')).toBeVisible();
  // The Try panel charges what the generation really came to, a little under its
  // estimate of 600.
  const alert = page.getByTestId('usage-alert');
  await expect(alert).toContainText(
    /You have used (5\d|60)% of this period's credits \((5\d\d|600) of 1,000\)\. You asked to be told at 50%\./,
  );
  await alert.getByRole('link', { name: 'Change your alerts' }).click();
  await expect(page).toHaveURL(/#notices$/);
});
