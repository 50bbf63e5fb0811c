export const SYSTEM_CHROMIUM: string
/** The flags of every Chromium the tests and the benchmark launch. */
export const CHROMIUM_ARGS: string[]
/** $CHROMIUM_PATH, /usr/bin/chromium or Playwright's own Chromium; undefined when there is none. */
export function findChromium(): Promise<string | undefined>
/** The Chromium to use; installs Debian's package when none is there and this runs as root. */
export function ensureChromium(options?: { waitMs?: number; log?: (message: string) => void }): Promise<string>
