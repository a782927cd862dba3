import { expect, test, type Page } from '@playwright/test';
import { newCustomer, turnOnAutoTopUps } from './helpers';

// Automatic top-ups (P16) with the local test checkout: the card saved at a top-up, turned
// on from the page, one made when a generation takes the balance below the threshold, and
// a declined card. It runs on the servers of the clock tests (one for each JavaScript
// setting, with their own allowance of sign-ups), one test after another, never moving
// the clock.
test.describe.configure({ mode: 'serial' });

/** Runs a music generation of `seconds` in the Try panel. */
async function generate(page: Page, seconds: number) {
  const panel = page.locator('#try');
  await panel.getByLabel('Operation').selectOption('music');
  await panel.getByLabel('Size').fill(String(seconds));
  await panel.getByRole('button', { name: 'Run it' }).click();
  await expect(page.getByTestId('try-done')).toBeVisible();
}

test('turn on automatic top-ups, see one made when the balance falls, then a declined card (P16)', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'auto');
  const auto = page.locator('#auto-top-up');
  await expect(auto.getByTestId('auto-top-up-no-card')).toBeVisible();

  // The test card saved at a top-up asked for here: the checkout says it keeps the card,
  // and takes the card only (as Stripe's does).
  await auto.getByLabel('Save a card: buy').selectOption('small');
  await auto.getByRole('button', { name: 'Buy and save the card' }).click();
  await expect(page).toHaveURL(/\/checkout\/local\/cs_local_/);
  await expect(page.getByTestId('checkout-saves-card')).toContainText('saved for automatic top-ups');
  await expect(page.getByLabel('Test bank debit (confirmed a few seconds later)')).toHaveCount(0);
  await page.getByRole('button', { name: 'Pay $5' }).click();
  await expect(page.getByTestId('top-up-paid')).toBeVisible();
  await page.getByTestId('top-up-back').click();
  await expect(page).toHaveURL(/\/subscription#auto-top-up$/);
  await expect(page.getByTestId('balance-total')).toHaveText('500');
  await expect(auto.getByTestId('auto-top-up-card')).toHaveText('Card: Test card ending 4242.');

  // On: below 400 credits, the 500-credit pack, at most $20 a month.
  await turnOnAutoTopUps(page);
  await expect(page.getByTestId('spend-then')).toContainText('an automatic top-up of 500 credits ($5), up to $20 a month.');

  // A generation takes the balance below 400: a pack is bought, once.
  await generate(page, 100);
  await expect(async () => {
    await page.reload();
    await expect(auto.getByTestId('auto-top-up-month')).toContainText('$5 of $20 spent on automatic top-ups, $15 left.', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });

  // The next charge is declined (test mode's switch): nothing bought, and the page says so.
  await auto.getByLabel('is declined').check();
  await auto.getByRole('button', { name: 'Save the test card' }).click();
  await expect(auto.getByLabel('is declined')).toBeChecked();
  await generate(page, 300);
  await expect(async () => {
    await page.reload();
    await expect(auto.getByTestId('auto-top-up-failed')).toContainText('Your card was declined.', { timeout: 1_000 });
  }).toPass({ timeout: 15_000 });
  await expect(auto.getByTestId('auto-top-up-month')).toContainText('$5 of $20 spent on automatic top-ups, $15 left.');
});
