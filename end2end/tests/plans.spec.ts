import { expect, test } from '@playwright/test';
import { jsOn, newCustomer, subscribe } from './helpers';

const DATE = /\d{1,2} [A-Z][a-z]+ \d{4}/;


test('starting to cancel offers the lower tier first; the downgrade waits for the renewal and can be undone', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'downgrade');
  await expect(page.getByTestId('plan-none')).toBeVisible();
  await subscribe(page, 'Creator');
  await expect(page.getByTestId('balance-total')).toHaveText('5,000');
  await expect(page.getByTestId('payments')).toContainText('Creator plan: 5,000 credits (test mode)');

  // From the keyboard: the offer opens with keyboard focus in it, so the next Tab is its
  // first button; after the change, focus is on what it did.
  await page.getByTestId('start-cancel').focus();
  await page.keyboard.press('Enter');
  const offer = page.getByTestId('downgrade-offer');
  await expect(offer).toContainText('Before you go: switch to Starter instead?');
  await expect(offer).toContainText('You keep all your projects and audio, and get 1,000 credits each period');
  if (jsOn(testInfo)) await expect(offer).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(offer.getByRole('button', { name: 'Switch to Starter' })).toBeFocused();
  await page.keyboard.press('Enter');
  // The page comes back saying what was done, with JavaScript or without.
  await expect(page.locator('.result')).toContainText('Switch booked: you move to Starter on');
  if (jsOn(testInfo)) await expect(page.locator('.result')).toBeFocused();
  // Said once: the result says what was done, the plan's summary what is booked.
  await expect(page.getByText(/Creator until .+, then Starter\./)).toHaveCount(1);

  const pending = page.getByTestId('plan-pending');
  await expect(pending).toContainText(/^Creator until \d{1,2} [A-Z][a-z]+ \d{4}, then Starter\./);
  await expect(page.getByTestId('balance-total')).toHaveText('5,000');
  await expect(page.getByTestId('plan-starter')).toContainText('From your next renewal');

  await pending.getByRole('button', { name: 'Keep Creator' }).click();
  await expect(page.getByTestId('plan-pending')).toHaveCount(0);
  await expect(page.getByTestId('plan-summary')).toContainText('Creator: this period runs');
});

test('cancel shows the exact dates, takes a reason, and resume undoes it', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'cancel');
  await subscribe(page, 'Creator');
  await page.getByTestId('start-cancel').click();
  await page.getByRole('link', { name: 'No thanks, cancel my subscription' }).click();
  const confirm = page.getByTestId('confirm-cancel');
  await expect(confirm).toContainText('Cancel Creator?');
  const dates = confirm.getByTestId('cancel-dates');
  await expect(dates).toContainText('Your plan and its credits last until');
  await expect(dates).toContainText('Your projects and audio are kept until');
  await expect(dates.locator('dd').nth(0)).toHaveText(DATE);
  await expect(dates.locator('dd').nth(1)).toHaveText(DATE);
  await confirm.getByLabel('Why are you leaving? (optional)').fill('Trying another tool');
  await confirm.getByRole('button', { name: 'Cancel subscription' }).click();

  const cancelled = page.getByTestId('plan-cancelled');
  await expect(cancelled).toContainText(/Your Creator plan is cancelled and ends on \d{1,2} [A-Z][a-z]+ \d{4}\./);
  await expect(cancelled).toContainText('Payments, your credit history and top-up credits are always kept.');
  await expect(page.getByTestId('balance-total')).toHaveText('5,000');

  await cancelled.getByRole('button', { name: 'Resume subscription' }).click();
  await expect(page.getByTestId('plan-cancelled')).toHaveCount(0);
  await expect(page.getByTestId('plan-summary')).toContainText('and renews on');
});

test('a booked switch survives cancel and resume, and the cancel offer does not repeat it', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'booked');
  await subscribe(page, 'Studio');
  await page.getByTestId('start-cancel').click();
  await page.getByTestId('downgrade-offer').getByRole('button', { name: 'Switch to Creator' }).click();
  await expect(page.getByTestId('plan-pending')).toContainText(/^Studio until .+, then Creator\./);

  // Starting to cancel again offers the tier below what is booked, and says it is booked.
  await page.getByTestId('start-cancel').click();
  const offer = page.getByTestId('downgrade-offer');
  await expect(offer).toContainText('Before you go: switch to Starter instead?');
  await expect(offer).toContainText('You have already booked Creator from');
  await page.getByRole('link', { name: 'No thanks, cancel my subscription' }).click();
  await page.getByTestId('confirm-cancel').getByRole('button', { name: 'Cancel subscription' }).click();

  const cancelled = page.getByTestId('plan-cancelled');
  await expect(cancelled).toContainText('Your Studio plan is cancelled');
  await expect(page.getByTestId('resume-leads-to')).toContainText(/If you resume, you stay on Studio until .+, then move to Creator as you booked\./);
  await cancelled.getByRole('button', { name: 'Resume subscription' }).click();
  await expect(page.getByTestId('plan-message')).toContainText('then Creator from that renewal, as you booked');
  await expect(page.getByTestId('plan-pending')).toContainText(/^Studio until .+, then Creator\./);
});

test('a plan paid by bank debit shows as processing, and no second plan can be bought meanwhile', async ({ page }, testInfo) => {
  await newCustomer(page, testInfo, 'plan-debit');
  await page.getByRole('link', { name: 'Subscribe to Starter…' }).click();
  await page.getByTestId('confirm-change').getByRole('button', { name: 'Confirm' }).click();
  await expect(page).toHaveURL(/\/checkout\/local\/cs_local_/);
  await page.getByLabel('Test bank debit (confirmed a few seconds later)').check();
  await page.getByRole('button', { name: /^Pay \$/ }).click();

  await expect(page.getByTestId('plan-processing')).toContainText('Your payment for the Starter plan ($9, 1,000 credits) is processing.');
  await expect(page.getByRole('link', { name: /^Subscribe to / })).toHaveCount(0);
  // The page checks again by itself: once the payment clears, the plan is there.
  await expect(page.getByTestId('plan-summary')).toContainText('Starter: this period runs', { timeout: 20_000 });
  await expect(page.getByTestId('plan-processing')).toHaveCount(0);
  await expect(page.getByTestId('balance-total')).toHaveText('1,000');
});
