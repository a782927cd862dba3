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
