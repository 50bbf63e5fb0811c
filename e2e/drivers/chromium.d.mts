import type { Page } from '@playwright/test'
import type { Driver, Tab } from './index.mjs'

/** What every Chromium profile gets: viewport, locale, time zone. */
export const CONTEXT: { viewport: { width: number; height: number }; locale: string; timezoneId: string }
/** The driver interface of a Playwright page. */
export function chromiumTab(page: Page): Tab & { page: Page }
export function launchChromium(): Promise<Driver>
