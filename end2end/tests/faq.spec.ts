import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { jsOn, open } from './helpers';

/** The <details> of the answer with this anchor. */
function entryOf(page: Page, slug: string) {
  return page.locator(`details.faq-entry:has(#${slug})`);
}

test.describe('Credits & Billing FAQ', () => {
  test('renders one heading, every group and its questions', async ({ page }, testInfo) => {
    const { response, errors } = await open(page, testInfo, '/faq');
    expect(response?.status()).toBe(200);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('Credits & Billing FAQ');
    await expect(page.getByRole('heading', { level: 1 })).toHaveCount(1);
    for (const group of ['What credits are', 'Running out of credits', 'Cancelling', 'Downgrading']) {
      await expect(page.getByRole('heading', { level: 2, name: group })).toBeVisible();
    }
    await expect(page.locator('details.faq-entry')).toHaveCount(24);
    await expect(page.getByRole('main')).toBeVisible();
    await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
    expect(errors).toEqual([]);
  });

  test('every answer can be opened and read', async ({ page }, testInfo) => {
    await open(page, testInfo, '/faq');
    const entries = page.locator('details.faq-entry');
    const count = await entries.count();
    for (let i = 0; i < count; i++) {
      const entry = entries.nth(i);
      await entry.locator('summary').click();
      await expect(entry).toHaveAttribute('open', '');
      await expect(entry.locator('.answer')).toBeVisible();
    }
    await expect(page.locator('#do-credits-expire')).toContainText('Top-up credits never expire.');
    await expect(page.locator('#i-was-charged-incorrectly')).toContainText('support@brainports.ai');
  });

  test('a deep link opens its answer', async ({ page }, testInfo) => {
    await open(page, testInfo, '/faq#do-credits-expire');
    const entry = entryOf(page, 'do-credits-expire');
    await expect(entry).toHaveAttribute('open', '');
    await expect(entry.getByText('Top-up credits never expire.')).toBeVisible();
    await expect(entryOf(page, 'what-are-credits')).not.toHaveAttribute('open', '');

    // Following a link to another answer opens that one too.
    await page.goto('/faq#what-happens-when-i-run-out');
    await expect(entryOf(page, 'what-happens-when-i-run-out')).toHaveAttribute('open', '');
    await expect(page.locator('#what-happens-when-i-run-out')).toBeInViewport();
  });

  test('search filters the questions as you type', async ({ page }, testInfo) => {
    test.skip(!jsOn(testInfo), 'live filtering is the hydrated behaviour; the form test covers no-JS search');
    await open(page, testInfo, '/faq');
    const search = page.getByRole('searchbox', { name: 'Search the questions' });
    await search.pressSequentially('refund');
    await expect(entryOf(page, 'are-subscription-fees-refunded')).toBeVisible();
    await expect(entryOf(page, 'do-credits-expire')).toBeHidden();
    // Filtered in place (no page load); the address keeps in step, to share or reload.
    await expect(page).toHaveURL(/\/faq\?q=refund$/);
    await expect(page.getByRole('status').filter({ hasText: 'match' })).toBeVisible();

    await search.fill('');
    await search.pressSequentially('xylophone');
    await expect(page.getByText('No question matches “xylophone”.')).toBeVisible();
    await expect(page.getByRole('link', { name: 'support@brainports.ai' })).toBeVisible();
    await expect(page.locator('details.faq-entry:visible')).toHaveCount(0);

    await search.fill('');
    await expect(page.locator('details.faq-entry:visible')).toHaveCount(24);
  });

  test('search works as a form without JavaScript', async ({ page }, testInfo) => {
    test.skip(jsOn(testInfo), 'with JavaScript the same box filters live');
    await open(page, testInfo, '/faq');
    await page.getByRole('searchbox', { name: 'Search the questions' }).fill('grace period');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect(page).toHaveURL(/\/faq\?q=grace(\+|%20)period/);
    await expect(entryOf(page, 'what-is-the-grace-period')).toBeVisible();
    await expect(entryOf(page, 'what-are-credits')).toBeHidden();
  });

  test('works from the keyboard alone', async ({ page }, testInfo) => {
    await open(page, testInfo, '/faq');
    await page.keyboard.press('Tab');
    await expect(page.getByRole('link', { name: 'Skip to content' })).toBeFocused();
    const entry = entryOf(page, 'which-credits-are-used-first');
    await entry.locator('summary').focus();
    await page.keyboard.press('Enter');
    await expect(entry).toHaveAttribute('open', '');
    await expect(page.getByText('Subscription credits are always spent first.')).toBeVisible();
  });

  test('is readable on a phone', async ({ page }, testInfo) => {
    await page.setViewportSize({ width: 375, height: 740 });
    await open(page, testInfo, '/faq');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await expect(page.getByRole('searchbox', { name: 'Search the questions' })).toBeVisible();
  });

  test('search finds everyday words in any order and opens what it finds', async ({ page }, testInfo) => {
    if (jsOn(testInfo)) {
      await open(page, testInfo, '/faq');
      await page.getByRole('searchbox', { name: 'Search the questions' }).pressSequentially('money back');
    } else {
      await open(page, testInfo, '/faq?q=money+back');
    }
    const refund = entryOf(page, 'are-subscription-fees-refunded');
    await expect(refund).toBeVisible();
    await expect(refund).toHaveAttribute('open', '');
    await expect(refund.getByText('subscription fees are not refunded')).toBeVisible();
    await expect(entryOf(page, 'what-are-credits')).toBeHidden();
    if (jsOn(testInfo)) {
      await expect(page).toHaveURL(/\/faq\?q=money%20back$/);
    }
  });
});
