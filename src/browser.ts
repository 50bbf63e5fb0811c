/**
 * The script-tag entry (SPEC §2): defines `window.InfinarioDestination`, and when its <script>
 * element carries `data-project-token`, registers the destination on `window.analytics` (the
 * snippet's stub, the loaded library, or an array the snippet will pick up). `data-api-url`,
 * `data-session-timeout-ms`, `data-ecommerce`, `data-debug` and `data-customer-ids` (JSON) set the
 * settings of the same name.
 */
import { infinarioDestination, version } from './plugin'
import type { Settings } from './settings'

type Analytics = unknown[] & { register?: (plugin: unknown) => unknown }
const page = window as unknown as { InfinarioDestination: unknown; analytics?: Analytics }
page.InfinarioDestination = { infinarioDestination, version }

/** `data-customer-ids` as JSON; text that is not JSON is passed on as it is, so that load() rejects it naming the setting. */
function customerIds(text: string | undefined): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const data = (document.currentScript as HTMLScriptElement | null)?.dataset
if (data?.projectToken != null) {
  const plugin = infinarioDestination({
    projectToken: data.projectToken,
    apiUrl: data.apiUrl,
    sessionTimeoutMs: data.sessionTimeoutMs ? Number(data.sessionTimeoutMs) : undefined,
    customerIds: customerIds(data.customerIds) as Settings['customerIds'],
    // present (also empty) means on, "false" means off: like data-debug
    ecommerce: data.ecommerce != null && data.ecommerce != 'false',
    debug: data.debug != null && data.debug != 'false',
  })
  // nothing on the page yet: an array, which the snippet picks up
  if (!page.analytics) page.analytics = [] as unknown as Analytics
  const analytics = page.analytics
  // a stub or library with register() takes the plugin; a plain array queues the call
  if (analytics.register) analytics.register(plugin)
  else analytics.push(['register', plugin])
}
