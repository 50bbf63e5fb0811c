/** Types of the demo launcher (start.mjs). */
import type { ApiHandle } from './server/api.mjs'
import type { SiteHandle } from './server/site.mjs'

export interface RemoteTarget {
  /** Infinario project token */
  token: string
  /** tracking API base URL, without a trailing slash */
  apiUrl: string
}

export interface DemoOptions {
  /** [127.0.0.1] */
  host?: string
  /** the demo site's port [0: a free one] */
  port?: number
  /** the local API's port [0: a free one] */
  apiPort?: number
  /** send to this API instead of starting a local one [null] */
  remote?: RemoteTarget | null
  /** the plugin's sessionTimeoutMs in the demo [30000] */
  sessionTimeoutMs?: number
  /** the plugin's customerIds (an object, or its JSON) [DEMO_CUSTOMER_IDS locally, the plugin's default remotely] */
  customerIds?: Record<string, string> | string
}

export interface DemoHandle {
  /** the demo's address, e.g. http://127.0.0.1:41234/ */
  url: string
  mode: 'local' | 'remote'
  /** where the plugin sends */
  apiUrl: string
  token: string
  /** the local API, null in the remote mode */
  api: ApiHandle | null
  site: SiteHandle
  close(): Promise<void>
}

export const DEMO_TOKEN: string
export const DEMO_SESSION_TIMEOUT_MS: number
export const DEMO_CUSTOMER_IDS: Record<string, string>
export function demoCsp(apiOrigin: string): string
export function remoteFromEnv(env?: Record<string, string | undefined>): RemoteTarget | null
export function startDemo(options?: DemoOptions): Promise<DemoHandle>
