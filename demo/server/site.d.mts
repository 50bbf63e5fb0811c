/** Types of the static demo / e2e server (site.mjs). */

export interface SiteHandle {
  /** e.g. http://127.0.0.1:41234 */
  origin: string
  port: number
  /** the version of the analytics-next package served (its package.json) */
  analyticsNextVersion: string
  close(): Promise<void>
}

export interface StartSiteOptions {
  /** [0: any free port] */
  port?: number
  /** [127.0.0.1] */
  host?: string
  /** extra headers for every HTML response, e.g. a Content-Security-Policy */
  headers?: Record<string, string>
  /** replaces `{{NAME}}` in HTML files by `vars.NAME`, HTML-escaped */
  vars?: Record<string, string>
  /**
   * directory of the @segment/analytics-next package whose dist/umd/ is served
   * [$ANALYTICS_NEXT_DIR, else node_modules/@segment/analytics-next]; relative to the repository root
   */
  analyticsNext?: string
}

export function startSite(options?: StartSiteOptions): Promise<SiteHandle>
