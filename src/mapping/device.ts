/**
 * Browser, OS and device class from the user agent (and `navigator.userAgentData`, which
 * analytics-next passes as `context.userAgentData`: its `platform` and `mobile`; the browser comes
 * from the user agent, which names Chromium-based browsers too). A few ordered regexes.
 * A value that cannot be told is left undefined (so it is omitted, no "Other"): with no user
 * agent at all every field is; with one, `device` falls back to "desktop". Memoized on the last
 * user-agent string and userAgentData object (analytics-next passes the same one with every event),
 * so this runs once per page.
 */
export interface Device {
  browser?: string
  os?: string
  device?: string
}

/**
 * The first name of `list` ("Name:alternatives,...") whose name or alternatives occur in `userAgent`.
 * Order matters: Edge, Opera and Samsung Internet also say "Chrome", Chrome also says "Safari";
 * iOS says "like Mac OS X", Android says "Linux".
 */
function findName(userAgent: string, list: string): string | undefined {
  const entry = list.split(',').find((names) => RegExp(names.replace(':', '|')).test(userAgent))
  return entry?.split(':')[0]
}

/** userAgentData's platform, when it names one. */
function platformName(platform: unknown): string | undefined {
  if (typeof platform != 'string' || platform == '' || platform == 'Unknown') return undefined
  return platform
}

/** "tablet", "mobile" or "desktop"; undefined with neither a user agent nor userAgentData. */
function deviceClass(ua: string, mobile: unknown, uaData: unknown): string | undefined {
  if (/iPad|Tablet|Android(?!.*Mobi)/.test(ua)) return 'tablet'
  const isMobile = typeof mobile == 'boolean' ? mobile : /Mobi|iPhone|iPod/.test(ua)
  if (isMobile) return 'mobile'
  if (ua || uaData) return 'desktop'
  return undefined
}

/** The last user agent and userAgentData, and their device: analytics-next passes the same ones with every event. */
let last: [string, unknown, Device] | undefined

export function device(userAgent: unknown, uaData?: unknown): Device {
  // real user agents are a few hundred characters: a longer one cannot make the regexes slow
  const ua = typeof userAgent == 'string' ? userAgent.slice(0, 999) : ''
  if (last && last[0] === ua && last[1] === uaData) return last[2]
  const result: Device = {}
  try {
    // userAgentData (Chromium only) knows the platform and mobile-ness even when the UA is reduced
    const { mobile, platform } = (uaData || {}) as { mobile?: unknown; platform?: unknown }
    result.browser = findName(ua, 'Edge:Edg,Opera:OPR,Samsung Internet:SamsungBrowser,Firefox:FxiOS,Chrome:CriOS,Safari')
    result.os = platformName(platform) ?? findName(ua, 'iOS:iPhone|iPad|iPod,Android,Windows,Chrome OS:CrOS,macOS:Mac,Linux')
    result.device = deviceClass(ua, mobile, uaData)
  } catch {
    // a hostile userAgentData: its getters throw
  }
  last = [ua, uaData, result]
  return result
}
