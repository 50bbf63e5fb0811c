/** Types of the local Infinario-compatible tracking API (api.mjs). */

/** id name -> value, e.g. { registered, cookie } or { customer_id, email_id } (SPEC §4.1) */
export type CustomerIds = Record<string, string>

export interface CustomerData {
  ids: CustomerIds
  company_id: string
  project_id: string
  properties?: Record<string, any>
}

export interface EventData {
  customer_ids: CustomerIds
  company_id: string
  project_id: string
  type: string
  /** seconds since the epoch */
  timestamp: number
  /** seconds between the event and its send */
  age?: number
  properties: Record<string, any>
}

export type Command = { name: 'crm/customers'; data: CustomerData } | { name: 'crm/events'; data: EventData }

export type Result = { status: 'ok' } | { status: 'retry' } | { status: 'error'; errors: string[] }

export interface RecordedRequest {
  /** Date.now() when it was answered */
  at: number
  /** HTTP status answered; 0 when the connection was dropped (`down`) */
  status: number
  /** request headers, lower-case names */
  headers: Record<string, string | string[] | undefined>
  /** the commands of the body (empty when it could not be parsed) */
  commands: any[]
  /** one per command for a 200 answer, else empty */
  results: Result[]
  sizeBytes: number
  /** the body's `sdk` and `sdk_version` (SPEC §3), when the body was a JSON object */
  sdk?: unknown
  sdk_version?: unknown
  /** why the whole request was refused (400 / 415), when it was */
  error?: string
}

export interface Fault {
  /** destroy the socket without answering */
  down?: boolean
  /** answer HTTP 403 (the token may not track) to every /bulk request */
  forbidden?: boolean
  /** answer this HTTP status to every /bulk request (401 / 403: the token is wrong or may not track) */
  status?: number
  /** with `status`: the Retry-After header, in seconds */
  retryAfter?: number
  /** every k-th valid command, counted across requests, is answered `retry` */
  retryEvery?: number
  /** every k-th valid command, counted across requests, is answered `error` */
  errorEvery?: number
  /** wait this long before answering */
  delayMs?: number
}

export interface ApiHandle {
  /** base URL, e.g. http://127.0.0.1:43123 (the plugin's apiUrl) */
  url: string
  port: number
  token?: string
  /** every POST /bulk received, in order */
  requests: RecordedRequest[]
  /** the commands answered `ok`, in order: what reached Infinario */
  commands: Command[]
  /** CORS preflights (OPTIONS) received for /bulk */
  preflights: number
  /** the current fault (a copy) */
  readonly fault: Fault
  /** replaces the current fault; `{}` or null clears it; restarts the retryEvery/errorEvery count */
  setFault(fault: Fault | null): Fault
  /** clears records and the fault */
  reset(): void
  close(): Promise<void>
  /** called with each recorded request; returns a function that removes the listener */
  on(listener: (request: RecordedRequest) => void): () => void
  /** `data` of the crm/events commands that reached the API, optionally of one type */
  events(type?: string): EventData[]
  /** `data` of the crm/customers commands that reached the API */
  customers(): CustomerData[]
  /** properties.message_id -> how many events carried it */
  byMessageId(): Map<string, number>
  /** message_ids that arrived more than once */
  duplicates(): string[]
  /** polls until `predicate(handle)` is truthy and returns its value; rejects with `summary()` on timeout [5000 ms] */
  waitFor<T>(predicate: (api: ApiHandle) => T | Promise<T>, timeoutMs?: number): Promise<T>
  /** a readable account of the requests and results received */
  summary(title?: string): string
}

export interface StartApiOptions {
  /** [0: any free port] */
  port?: number
  /** [127.0.0.1] */
  host?: string
  /** when given, every command's company_id and project_id must equal it */
  token?: string
}

export function startApi(options?: StartApiOptions): Promise<ApiHandle>
export function validateCommand(command: unknown, token?: string): string[]
export function describeCommand(command: unknown): string
export const MAX_COMMANDS: number
export const MAX_COMMAND_BYTES: number
export const MAX_PROPERTIES: number
export const MAX_TIMESTAMP_SECONDS: number
