/**
 * The network behind a small interface: `post` (fetch, CORS without preflight: the body is a string,
 * so it goes as text/plain;charset=UTF-8) and `beacon` (navigator.sendBeacon, for page unload).
 */

export interface Answer {
  /** HTTP status; 0 when there was no answer (offline, refused, timed out) */
  status: number
  retryAfter?: string | null
  body?: unknown
  /** the status arrived but the body could not be read to its end (cut off, e.g. by the page going away) */
  bodyLost?: boolean
}

export interface Transport {
  post(body: string, keepalive?: boolean): Promise<Answer>
  /** false when the browser refused the beacon (too large, quota) */
  beacon(body: string): boolean
}

export const httpTransport = (url: string, timeoutMs = 30000): Transport => ({
  async post(body, keepalive) {
    const abort = new AbortController()
    const timer = setTimeout(() => abort.abort(), timeoutMs)
    try {
      const r = await fetch(url, { method: 'POST', body, keepalive, credentials: 'omit', signal: abort.signal })
      const retryAfter = r.headers.get('Retry-After')
      let text: string
      try {
        text = await r.text()
      } catch {
        return { status: r.status, retryAfter, bodyLost: true }
      }
      return { status: r.status, retryAfter, body: parseJson(text) }
    } catch {
      return { status: 0 }
    } finally {
      clearTimeout(timer)
    }
  },
  beacon: (body) => {
    try {
      return navigator.sendBeacon(url, body)
    } catch {
      return false
    }
  },
})

/** `text` as JSON, or 0 when it is not JSON (the answer is then read as unreadable). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return 0
  }
}
