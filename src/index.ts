/** analytics-next-infinario: the Infinario (Bloomreach Engagement) destination for analytics-next. */
export { infinarioDestination, version } from './plugin'
export type { Settings } from './settings'
