/**
 * The script-tag entry (SPEC §2): defines `window.InfinarioDestination`, and when its <script>
 * element carries `data-project-token`, registers the destination on `window.analytics` (the
 * snippet's stub, the loaded library, or an array the snippet will pick up). `data-api-url`,
 * `data-session-timeout-ms`, `data-ecommerce`, `data-debug` and `data-customer-ids` (JSON) set the
 * settings of the same name.
 */
import { infinarioDestination, version } from './plugin'
import type { Settings } from './settings'

type Analytics = unknown[] & { register?: (p: unknown) => unknown }
const w = window as unknown as { InfinarioDestination: unknown; analytics?: Analytics }
w.InfinarioDestination = { infinarioDestination, version }

/** `data-customer-ids` as JSON; text that is not JSON is passed on as it is, so that load() rejects it naming the setting. */
function customerIds(text: string | undefined): unknown {
  if (text === undefined) return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

const d = (document.currentScript as HTMLScriptElement | null)?.dataset
if (d?.projectToken != null) {
  const plugin = infinarioDestination({
    projectToken: d.projectToken,
    apiUrl: d.apiUrl,
    sessionTimeoutMs: d.sessionTimeoutMs ? +d.sessionTimeoutMs : undefined,
    customerIds: customerIds(d.customerIds) as Settings['customerIds'],
    // present (also empty) means on, "false" means off: like data-debug
    ecommerce: d.ecommerce != null && d.ecommerce != 'false',
    debug: d.debug != null && d.debug != 'false',
  })
  const a = (w.analytics ||= [] as unknown as Analytics)
  a.register ? a.register(plugin) : a.push(['register', plugin])
}
