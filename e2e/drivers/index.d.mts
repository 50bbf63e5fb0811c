/**
 * Types of the engine drivers (e2e/drivers/*.mjs): one small interface over Playwright (Chromium),
 * puppeteer-core over WebDriver BiDi (Firefox) and webdriverio over WebDriver classic (WebKit), so
 * that the end-to-end specs and the benchmark run unchanged in every engine.
 */

export type Engine = 'chromium' | 'firefox' | 'webkit'

export const ENGINES: readonly Engine[]

/** One tab of a profile. Every method works the same in every engine. */
export interface Tab {
  readonly engine: Engine
  /** Opens `url`; `referer` becomes the page's document.referrer (same origin only). */
  goto(url: string, options?: { referer?: string }): Promise<void>
  /** The tab's current URL. */
  url(): Promise<string>
  /** Runs `fn(arg)` in the page and resolves with its (awaited, JSON-serializable) result. */
  evaluate<R, A = undefined>(fn: (arg: A) => R | Promise<R>, arg?: A): Promise<R>
  /**
   * Runs `fn(arg)` in the page as one synchronous task and returns without awaiting anything it
   * started: for a call that navigates the page (its result is lost with the page).
   */
  evaluateAndLeave<A = undefined>(fn: (arg: A) => unknown, arg?: A): Promise<void>
  /** Resolves once `fn(arg)` returns a truthy value in the page; rejects after `timeoutMs`. */
  waitForFunction<A = undefined>(fn: (arg: A) => unknown, arg?: A, timeoutMs?: number): Promise<void>
  /** Reloads the page and waits for its load event. */
  reload(): Promise<void>
  /** Closes the tab as a user would: the page's pagehide / visibilitychange handlers run. */
  close(): Promise<void>
}

/** A fresh browser profile (its own IndexedDB, localStorage, cookies) with its tabs. */
export interface Profile {
  readonly engine: Engine
  /** Opens a new, empty tab. */
  newTab(): Promise<Tab>
  /** URLs of every request the profile's pages made; null where the driver cannot see them (WebKit). */
  requests(): string[] | null
  close(): Promise<void>
}

/** One running browser (or browser driver) of an engine. */
export interface Driver {
  readonly engine: Engine
  /** e.g. "Chromium 156.0.8078.79", "Firefox 153.8.0", "WebKitGTK 2.50.6 (MiniBrowser)" */
  readonly version: string
  newProfile(): Promise<Profile>
  close(): Promise<void>
}

/** Starts the engine's browser or driver. */
export function launchDriver(engine: Engine): Promise<Driver>

/** Why the engine cannot run on this machine, or null when it can. */
export function unavailable(engine: Engine): string | null

/** Errors of a page that went away under an evaluate (navigation, closed tab): ignore them. */
export function isNavigationError(error: unknown): boolean
/** A `catch` handler for a script that leaves the page: rethrows anything but the navigation's error. */
export function ignoreNavigation(error: unknown): void
