/**
 * analytics-next-infinario: the Infinario (Bloomreach Engagement) destination for Segment's
 * analytics.js 2.0 (`@segment/analytics-next`). See {@link infinarioDestination}.
 *
 * @packageDocumentation
 */
export { infinarioDestination, version } from './plugin'
export type { Settings } from './settings'
