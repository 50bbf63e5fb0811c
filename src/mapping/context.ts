/**
 * Context extras (SPEC §4): the page, campaign, user agent, locale, time zone and library of an
 * analytics-next event context as flat Infinario properties, and the subset that sessions carry
 * (SPEC §5). Missing values (undefined, null, "") are omitted.
 */
import { device } from './device'
import { addProps } from './properties'
import type { Properties } from './types'

export function contextExtras(context: unknown): Properties {
  try {
    const c: any = context || {}
    const p = c.page || {}
    const m = c.campaign || {}
    const e = new Map<string, unknown>()
    addProps(
      e,
      {
        location: p.url,
        path: p.path,
        referrer: p.referrer,
        title: p.title,
        utm_source: m.source,
        utm_medium: m.medium,
        utm_campaign: m.name,
        utm_term: m.term,
        utm_content: m.content,
        user_agent: c.userAgent,
        ...device(c.userAgent, c.userAgentData),
        locale: c.locale,
        timezone: c.timezone,
        library_name: c.library?.name,
        library_version: c.library?.version,
      },
      255,
    )
    return Object.fromEntries([...e].filter(([, v]) => v != null && v !== ''))
  } catch {
    return {}
  }
}

/** The context extras a session keeps: location, path, referrer, utm_*, browser, os, device. */
export const sessionProps = (context: unknown): Properties =>
  Object.fromEntries(Object.entries(contextExtras(context)).filter(([k]) => /^(location|path|referrer|utm_|browser|os|device)/.test(k)))
