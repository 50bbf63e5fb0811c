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
 * The first entry of `list` ("Name:alternatives,...") whose name or alternatives occur in `ua`.
 * Order matters: Edge, Opera and Samsung Internet also say "Chrome", Chrome also says "Safari";
 * iOS says "like Mac OS X", Android says "Linux".
 */
const find = (ua: string, list: string) =>
  list
    .split(',')
    .find((x) => RegExp(x.replace(':', '|')).test(ua))
    ?.split(':')[0]

let last: [string, unknown, Device] | undefined

export function device(userAgent: unknown, uaData?: unknown): Device {
  // real user agents are a few hundred characters: a longer one cannot make the regexes slow
  const ua = typeof userAgent == 'string' ? userAgent.slice(0, 999) : ''
  if (last && last[0] === ua && last[1] === uaData) return last[2]
  const d: Device = {}
  try {
    // userAgentData (Chromium only) knows the platform and mobile-ness even when the UA is reduced
    const { mobile: m, platform: p } = (uaData || {}) as { mobile?: unknown; platform?: unknown }
    d.browser = find(ua, 'Edge:Edg,Opera:OPR,Samsung Internet:SamsungBrowser,Firefox:FxiOS,Chrome:CriOS,Safari')
    d.os = (typeof p == 'string' && p != 'Unknown' && p) || find(ua, 'iOS:iPhone|iPad|iPod,Android,Windows,Chrome OS:CrOS,macOS:Mac,Linux')
    d.device = /iPad|Tablet|Android(?!.*Mobi)/.test(ua)
      ? 'tablet'
      : (typeof m == 'boolean' ? m : /Mobi|iPhone|iPod/.test(ua))
        ? 'mobile'
        : ua || uaData
          ? 'desktop'
          : undefined
  } catch {}
  return (last = [ua, uaData, d])[2]
}
