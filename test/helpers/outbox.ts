/** Outbox fixtures shared by the delivery unit tests: numbered events, a recording API, default options. */
import type { OutboxOptions } from '../../src/delivery/outbox'
import type { Answer, Transport } from '../../src/delivery/transport'
import type { Command, EventCommand } from '../../src/mapping/types'
import type { UseStore } from '../../src/store'

/** When the fake clock of the delivery tests starts. */
export const T0 = Date.parse('2024-05-01T12:00:00Z')

/** What an outbox reported, in order: each reason with its detail. */
export type Reports = [string, Record<string, unknown> | undefined][]

/** A tracked event; `properties.i` identifies it in the requests, `extra` adds properties after it. */
export function eventCommand(i: number, extra: Record<string, unknown> = {}, at = T0): EventCommand {
  return {
    name: 'crm/events',
    data: {
      customer_ids: { cookie: 'anon' },
      company_id: 'token',
      project_id: 'token',
      type: 'e',
      timestamp: at / 1000,
      properties: { i, ...extra },
    },
  }
}

let keysMade = 0
/** A new record key; keys sort in the order they were made. */
export function nextKey(): string {
  const key = 'k' + String(keysMade).padStart(8, '0')
  keysMade++
  return key
}

/** The numbers (`properties.i`) of `commands`, in order. */
export function ids(commands: Command[]): number[] {
  return commands.map((command) => (command.data.properties as { i: number }).i)
}

/** The API's answer when it accepts every command of a request. */
function acceptAll(commands: Command[]): Answer {
  return { status: 200, body: { results: commands.map(() => ({ status: 'ok' })) } }
}

/** The API as the tests see it: it accepts every request (unless down) and records what each request and beacon carried. */
export function recordingApi() {
  const commands: Command[] = []
  const delivered: number[] = []
  const beaconed: number[] = []
  let down = false
  let latency = 0
  const transport: Transport = {
    async post(body) {
      const request = JSON.parse(body) as { commands: Command[] }
      if (latency) await new Promise((resolve) => setTimeout(resolve, latency))
      if (down) return { status: 503 }
      commands.push(...request.commands)
      delivered.push(...ids(request.commands))
      return acceptAll(request.commands)
    },
    beacon(body) {
      beaconed.push(...ids((JSON.parse(body) as { commands: Command[] }).commands))
      return true
    },
  }
  return {
    transport,
    /** the commands that requests delivered, in order */
    commands,
    /** the numbers of the commands that requests delivered, in order */
    delivered,
    /** the numbers of the commands that beacons carried, in order */
    beaconed,
    setDown: (value: boolean) => void (down = value),
    setLatency: (ms: number) => void (latency = ms),
  }
}

/** The options the delivery tests start from: tab `tab`, batches of 50 after 1 s, reports pushed to `reports`. */
export function outboxOptions(transport: Transport, store: () => Promise<UseStore>, reports: Reports): OutboxOptions {
  return {
    transport,
    store,
    tab: 'tab',
    journalPrefix: 'j:',
    batchSize: 50,
    flushInterval: 1000,
    report: (reason, detail) => reports.push([reason, detail]),
    log: () => 0,
    version: '1.2.3',
  }
}
