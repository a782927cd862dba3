import { expect, type Page, type TestInfo } from '@playwright/test';

/** True in the project that runs with JavaScript on. */
export function jsOn(testInfo: TestInfo): boolean {
  return testInfo.project.use.javaScriptEnabled !== false;
}

/**
 * Opens a page. With JavaScript on, waits until the app has hydrated and fails on any
 * error the page throws, so a broken wasm build cannot pass unnoticed.
 */
export async function open(page: Page, testInfo: TestInfo, path: string) {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const response = await page.goto(path);
  if (jsOn(testInfo)) {
    await expect(page.locator('body[data-hydrated="true"]')).toHaveCount(1, { timeout: 15_000 });
  }
  testInfo.attach('page errors', { body: errors.join('\n') });
  return { response, errors };
}

/** A new customer of our own (no plan, no credits), so tests running side by side never
 * share a balance. */
export async function newCustomer(page: Page, testInfo: TestInfo, what: string) {
  const email = `${what}-${testInfo.project.name}-${Date.now()}@example.com`;
  await open(page, testInfo, '/sign-up');
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/subscription$/);
  await expect(page.getByTestId('balance-total')).toHaveText('0');
  return email;
}

/** Subscribes to `plan` from /subscription: confirm, then pay in the local checkout. */
export async function subscribe(page: Page, plan: string) {
  await page.getByRole('link', { name: `Subscribe to ${plan}…` }).click();
  const confirm = page.getByTestId('confirm-change');
  await expect(confirm).toContainText(`Subscribe to ${plan}?`);
  await confirm.getByRole('button', { name: 'Confirm' }).click();
  // The local (test-mode) checkout: paying starts the plan.
  await expect(page).toHaveURL(/\/checkout\/local\/cs_local_/);
  await expect(page.getByTestId('checkout-credits')).toContainText(`${plan}:`);
  await page.getByRole('button', { name: /^Pay \$/ }).click();
  // Back in the app, it says what happened and when the plan renews, at what price.
  await expect(page.getByTestId('subscribed')).toContainText(`You are subscribed to ${plan}:`);
  await expect(page.getByTestId('subscribed')).toContainText(/The plan renews on .+ for \$\d+ a month\./);
  await expect(page.getByTestId('plan-summary')).toContainText(`${plan}: this period runs`);
  await expect(page.getByTestId('plan-summary')).toContainText(/renews on .+ for \$\d+\./);
}

/**
 * Turns automatic top-ups on from /subscription#auto-top-up (a card saved): below 400
 * credits, the 500-credit pack, at most $20 a month.
 */
export async function turnOnAutoTopUps(page: Page) {
  const auto = page.locator('#auto-top-up');
  await auto.getByLabel('Top up automatically').check();
  await auto.getByLabel('When my available balance falls below (credits)').fill('400');
  await auto.getByLabel('Buy', { exact: true }).selectOption('small');
  await auto.getByLabel('Spending at most, each month (US dollars)').fill('20');
  await auto.getByRole('button', { name: 'Save automatic top-ups' }).click();
  await expect(page.getByTestId('auto-top-up-saved')).toHaveText('Automatic top-ups are on: below 400 credits, at most $20 a month.');
}
