/** Types of the static demo / e2e server (site.mjs). */

export interface SiteHandle {
  /** e.g. http://127.0.0.1:41234 */
  origin: string
  port: number
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
}

export function startSite(options?: StartSiteOptions): Promise<SiteHandle>
