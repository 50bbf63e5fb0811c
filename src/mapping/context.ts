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
    const fields: any = context || {}
    const page = fields.page || {}
    const campaign = fields.campaign || {}
    const extras = new Map<string, unknown>()
    addProps(
      extras,
      {
        location: page.url,
        path: page.path,
        referrer: page.referrer,
        title: page.title,
        utm_source: campaign.source,
        utm_medium: campaign.medium,
        utm_campaign: campaign.name,
        utm_term: campaign.term,
        utm_content: campaign.content,
        user_agent: fields.userAgent,
        ...device(fields.userAgent, fields.userAgentData),
        locale: fields.locale,
        timezone: fields.timezone,
        library_name: fields.library?.name,
        library_version: fields.library?.version,
      },
      255,
    )
    return Object.fromEntries([...extras].filter(([, value]) => value != null && value !== ''))
  } catch {
    return {}
  }
}

/** The context extras a session keeps: location, path, referrer, utm_*, browser, os, device. */
export const sessionProps = (context: unknown): Properties =>
  Object.fromEntries(Object.entries(contextExtras(context)).filter(([key]) => /^(location|path|referrer|utm_|browser|os|device)/.test(key)))
