import { entries, keys } from 'idb-keyval'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { outbox } from '../../src/delivery/outbox'
import { newRecord, storageKey, type OutboxRecord } from '../../src/delivery/records'
import type { Answer, Transport } from '../../src/delivery/transport'
import type { Command, EventCommand } from '../../src/mapping/types'
import { memoryStore, write } from '../../src/store'
import { eventCommand, ids, nextKey, outboxOptions, T0, type Reports } from '../helpers/outbox'

interface Sent {
  commands: Command[]
  keepalive?: boolean
  at: number
}

type Reply = Answer | ((commands: Command[]) => Answer)

const okAll = (commands: Command[]): Answer => ({ status: 200, body: { success: true, results: commands.map(() => ({ status: 'ok' })) } })

/** A tracked event; `i` identifies it in the requests. */
function rec(i: number, extra: Record<string, unknown> = {}, at = T0): OutboxRecord {
  return newRecord(nextKey(), 'tab', eventCommand(i, extra, at))
}
const recs = (from: number, to: number, extra?: Record<string, unknown>) =>
  Array.from({ length: to - from }, (_, j) => rec(from + j, extra))
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, j) => from + j)

function setup(o: { max?: number; interval?: number; beacon?: (body: string) => boolean; latency?: number } = {}) {
  const store = memoryStore()
  const requests: Sent[] = []
  const beacons: string[] = []
  const replies: Reply[] = []
  const reports: Reports = []
  let inFlight = 0
  let maxInFlight = 0
  const transport = {
    async post(body: string, keepalive?: boolean) {
      const { commands } = JSON.parse(body) as { commands: Command[] }
      requests.push({ commands, keepalive, at: Date.now() })
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      if (o.latency) await new Promise((r) => setTimeout(r, o.latency))
      inFlight--
      const reply = replies.shift() ?? okAll
      return typeof reply == 'function' ? reply(commands) : reply
    },
    beacon(body: string) {
      const ok = o.beacon ? o.beacon(body) : true
      if (ok) beacons.push(body)
      return ok
    },
  }
  const box = outbox({
    ...outboxOptions(transport, async () => store, reports),
    batchSize: o.max ?? 50,
    flushInterval: o.interval ?? 1000,
    now: () => Date.now(),
  })
  /** what the caller does: persist, then hand over */
  const add = async (rs: OutboxRecord[]) => {
    const written = write(store, (s) => rs.forEach((r) => s.put(r, storageKey(r.key))))
    await vi.advanceTimersByTimeAsync(0) // the memory store commits in a task
    await written
    box.add(rs)
  }
  /** the commands in storage (after pending storage work of this tick) */
  const stored = async () => {
    for (let i = 0; i < 10; i++) await null
    return ids(((await entries(store)) as [string, OutboxRecord][]).map(([, r]) => r.command)).sort((a, b) => a - b)
  }
  const beaconed = () => beacons.map((b) => (JSON.parse(b) as { commands: Command[] }).commands)
  return { box, store, requests, beacons, beaconed, replies, reports, add, stored, maxInFlight: () => maxInFlight }
}

/** Lets `ms` of fake time pass. (A 0-delay timer set while timers run is due 1 ms later.) */
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms)

/** An outbox that got commands 0 to `count` and sent them once, 1 s later; `replies` answer that request and the ones after it. */
async function sentOnceWithReplies(count: number, ...replies: Reply[]) {
  const t = setup()
  await t.add(recs(0, count))
  t.replies.push(...replies)
  await tick(1000)
  return t
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 })
  vi.spyOn(Math, 'random').mockReturnValue(1)
})
afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('batching', () => {
  it('sends 120 commands as 50, 50, 20, in order', async () => {
    const t = setup()
    await t.add(recs(0, 120))
    await tick(5)
    // two full batches at once, one after the other
    expect(t.requests.map((r) => r.commands.length)).toEqual([50, 50])
    expect(t.requests[1].at - T0).toBeLessThan(5)
    await tick(990)
    expect(t.requests).toHaveLength(2)
    await tick(10)
    // the partial batch after `interval`
    expect(t.requests.map((r) => r.commands.length)).toEqual([50, 50, 20])
    expect(t.requests[2].at - t.requests[1].at).toBe(1000)
    expect(t.requests.flatMap((r) => ids(r.commands))).toEqual(range(0, 120))
    await tick(10000)
    expect(t.requests).toHaveLength(3)
    expect(t.box.size()).toBe(0)
    expect(await t.stored()).toEqual([])
    expect(t.reports).toEqual([])
  })

  it('sends a partial batch after `interval`, counted from its first command', async () => {
    const t = setup({ interval: 1000 })
    await t.add(recs(0, 5))
    await tick(500)
    await t.add(recs(5, 10))
    await tick(499)
    expect(t.requests).toHaveLength(0)
    await tick(1)
    expect(t.requests).toHaveLength(1)
    expect(ids(t.requests[0].commands)).toEqual(range(0, 10))
    expect(t.requests[0].at).toBe(T0 + 1000)
  })

  it('sends a full batch as soon as it is ready', async () => {
    const t = setup({ max: 10, interval: 5000 })
    await t.add(recs(0, 9))
    await tick(100)
    expect(t.requests).toHaveLength(0)
    await t.add(recs(9, 10))
    await tick(0)
    expect(t.requests).toHaveLength(1)
    expect(ids(t.requests[0].commands)).toEqual(range(0, 10))
    expect(t.requests[0].at).toBe(T0 + 100)
  })

  it('respects a smaller maxBatchSize', async () => {
    const t = setup({ max: 7 })
    await t.add(recs(0, 20))
    await tick(2000)
    expect(t.requests.map((r) => r.commands.length)).toEqual([7, 7, 6])
    expect(t.requests.flatMap((r) => ids(r.commands))).toEqual(range(0, 20))
  })

  it('1 000 commands added in one burst take at most 21 requests, each command once', async () => {
    const t = setup()
    for (const r of recs(0, 1000)) t.box.add([r])
    await tick(5000)
    expect(t.requests.length).toBeLessThanOrEqual(21)
    expect(t.requests.flatMap((r) => ids(r.commands))).toEqual(range(0, 1000))
  })

  it('1 000 commands trickling in (1 per ms) against a slow API take at most 21 requests, one at a time', async () => {
    const t = setup({ latency: 80 })
    const all = recs(0, 1000)
    for (const r of all) {
      t.box.add([r])
      await tick(1)
    }
    await tick(5000)
    expect(t.requests.length).toBeLessThanOrEqual(21)
    expect(t.requests.every((r) => r.commands.length <= 50)).toBe(true)
    expect(t.requests.flatMap((r) => ids(r.commands))).toEqual(range(0, 1000))
    expect(t.maxInFlight()).toBe(1)
  })

  it('sends one request at a time', async () => {
    const t = setup({ latency: 300 })
    await t.add(recs(0, 150))
    await tick(0)
    expect(t.requests).toHaveLength(1)
    await tick(299)
    expect(t.requests).toHaveLength(1)
    await tick(5)
    expect(t.requests).toHaveLength(2)
    await tick(2000)
    expect(t.requests).toHaveLength(3)
    const [a, b, c] = t.requests.map((r) => r.at - T0)
    expect(a).toBe(0)
    expect(b - a).toBeGreaterThanOrEqual(300)
    expect(b - a).toBeLessThan(305)
    expect(c - b).toBeGreaterThanOrEqual(300)
    expect(c - b).toBeLessThan(305)
    expect(t.maxInFlight()).toBe(1)
  })
})

describe('per-command results', () => {
  it('resends only the commands answered `retry` (or without a result); drops and reports `error`', async () => {
    const t = setup()
    const rs = recs(0, 4)
    await t.add(rs)
    t.replies.push({
      status: 200,
      body: { success: true, results: [{ status: 'ok' }, { status: 'retry' }, { status: 'error', errors: ['bad type'] }] },
    })
    await tick(1000)
    expect(t.requests).toHaveLength(1)
    expect(t.reports).toEqual([['rejected', expect.objectContaining({ commands: [rs[2].command] })]])
    expect(await t.stored()).toEqual([1, 3])
    await tick(999) // backoff: attempt 1, window 1 s
    expect(t.requests).toHaveLength(1)
    await tick(1)
    expect(t.requests).toHaveLength(2)
    expect(ids(t.requests[1].commands)).toEqual([1, 3])
    await tick(10000)
    expect(t.requests).toHaveLength(2)
    expect(t.box.size()).toBe(0)
    expect(await t.stored()).toEqual([])
    expect(t.reports).toHaveLength(1)
  })

  it('retries commands the answer cannot be read for (2xx with a garbage body)', async () => {
    const t = await sentOnceWithReplies(3, { status: 200, body: 0 })
    await tick(1000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ])
    expect(t.reports).toEqual([])
  })

  it('counts as delivered the commands of a 2xx answer cut off before its body was read: neither resent nor beaconed', async () => {
    // a navigation stops the page's reads right before pagehide: the API took the request, its body never arrived
    const t = await sentOnceWithReplies(3, { status: 200, bodyLost: true })
    expect(t.requests.map((r) => ids(r.commands))).toEqual([[0, 1, 2]])
    t.box.unload([])
    expect(t.beaconed()).toEqual([])
    expect(t.box.size()).toBe(0)
    await tick(60000)
    expect(t.requests).toHaveLength(1)
    expect(await t.stored()).toEqual([])
    expect(t.reports).toEqual([])
  })

  it('counts as sent a keepalive request whose fetch failed right before pagehide: neither beaconed nor kept', async () => {
    // a navigation rejects the page's fetch (status 0), then pagehide runs in a following task
    const t = setup()
    await t.add(recs(0, 3))
    let leftAtUnload = -1
    t.replies.push(() => {
      setTimeout(() => {
        t.box.unload([])
        leftAtUnload = t.box.size()
      }, 0)
      return { status: 0 }
    })
    await tick(1000)
    await tick(1)
    expect(t.requests.map((r) => [ids(r.commands), r.keepalive])).toEqual([[[0, 1, 2], true]])
    expect(t.beaconed()).toEqual([])
    // the page went away: nothing left for it to send, so nothing for the next page to send again
    expect(leftAtUnload).toBe(0)
    // here the page lives on (it was only hidden): what that request did not deliver is retried, once
    await tick(2000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([
      [0, 1, 2],
      [0, 1, 2],
    ])
  })

  it('retries a keepalive request that failed with no pagehide after it, without keepalive', async () => {
    const t = await sentOnceWithReplies(3, { status: 0 })
    await tick(2000)
    expect(t.requests.map((r) => [ids(r.commands), r.keepalive])).toEqual([
      [[0, 1, 2], true],
      [[0, 1, 2], false],
    ])
    t.box.unload([])
    expect(t.beaconed()).toEqual([])
  })

  it('a retried command keeps its place before newer ones', async () => {
    const t = setup({ max: 3 })
    await t.add(recs(0, 3))
    t.replies.push({ status: 200, body: { results: [{ status: 'retry' }, { status: 'ok' }, { status: 'ok' }] } })
    await tick(0)
    await t.add(recs(3, 6))
    await tick(5000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([[0, 1, 2], [0, 3, 4], [5]])
  })
})

describe('failed requests', () => {
  it.each([
    ['503', { status: 503 }],
    ['500', { status: 500 }],
    ['429', { status: 429 }],
    ['a network failure', { status: 0 }],
  ])('retries the whole request after %s, with exponential backoff', async (_, fail) => {
    const t = await sentOnceWithReplies(3, fail, fail, fail)
    await tick(20000)
    // full jitter with random = 1: windows of 1 s, 2 s, 4 s; a failed keepalive request (the first,
    // while the API was healthy) is handled one task later, in case pagehide follows (1 ms of fake time)
    const shift = fail.status == 0 ? 1 : 0
    expect(t.requests.map((r) => r.at - T0)).toEqual([1000, 2000 + shift, 4000 + shift, 8000 + shift])
    expect(t.requests.map((r) => ids(r.commands))).toEqual([
      [0, 1, 2],
      [0, 1, 2],
      [0, 1, 2],
      [0, 1, 2],
    ])
    expect(t.reports).toEqual([])
    expect(await t.stored()).toEqual([])
  })

  it('waits a random part of the backoff window (full jitter)', async () => {
    vi.mocked(Math.random).mockReturnValue(0.25)
    const t = await sentOnceWithReplies(1, { status: 503 }, { status: 503 })
    await tick(10000)
    expect(t.requests.map((r) => r.at - T0)).toEqual([1000, 1250, 1750])
  })

  it('resets the backoff after a success', async () => {
    const t = await sentOnceWithReplies(1, { status: 503 }, { status: 503 })
    await tick(3000) // retries at +1 s and +2 s, then ok
    expect(t.requests).toHaveLength(3)
    await t.add(recs(1, 2))
    t.replies.push({ status: 503 })
    await tick(1000)
    const failedAt = t.requests[3].at
    await tick(1000)
    expect(t.requests).toHaveLength(5)
    expect(t.requests[4].at - failedAt).toBe(1000)
  })

  it('caps the backoff at 60 s', async () => {
    const t = setup()
    await t.add(recs(0, 1))
    for (let i = 0; i < 9; i++) t.replies.push({ status: 503 })
    await tick(1000)
    await tick(400_000)
    const gaps = t.requests.slice(1).map((r, i) => r.at - t.requests[i].at)
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000])
  })

  it('honours Retry-After in seconds', async () => {
    vi.mocked(Math.random).mockReturnValue(0)
    const t = await sentOnceWithReplies(2, { status: 429, retryAfter: '7' })
    await tick(6999)
    expect(t.requests).toHaveLength(1)
    await tick(1)
    expect(t.requests).toHaveLength(2)
    expect(ids(t.requests[1].commands)).toEqual([0, 1])
  })

  it('honours Retry-After as an HTTP date', async () => {
    vi.mocked(Math.random).mockReturnValue(0)
    const t = await sentOnceWithReplies(2, () => ({ status: 503, retryAfter: new Date(Date.now() + 30_000).toUTCString() }))
    await tick(29_999)
    expect(t.requests).toHaveLength(1)
    await tick(1)
    expect(t.requests).toHaveLength(2)
  })

  it('still backs off when Retry-After says 0 or lies in the past (no request storm)', async () => {
    const t = await sentOnceWithReplies(
      1,
      { status: 503, retryAfter: '0' },
      { status: 503, retryAfter: 'Thu, 01 Jan 1970 00:00:00 GMT' },
      { status: 503, retryAfter: '0' },
    )
    await tick(100)
    expect(t.requests).toHaveLength(1)
    await tick(20000)
    expect(t.requests.map((r) => r.at - T0)).toEqual([1000, 2000, 4000, 8000])
  })

  it('retryNow sends at once and resets the backoff', async () => {
    const t = await sentOnceWithReplies(1, { status: 0 }, { status: 0 }, { status: 0 }, { status: 0 })
    await tick(1000)
    await tick(2001) // third failure: next try in 4 s (the first, a keepalive request, was handled 1 ms later)
    expect(t.requests).toHaveLength(3)
    await tick(100)
    t.box.retryNow()
    await tick(0)
    expect(t.requests).toHaveLength(4)
    expect(t.requests[3].at - T0).toBe(4101)
    await tick(1000) // backoff window back to 1 s
    expect(t.requests).toHaveLength(5)
    await tick(60000)
    expect(t.requests).toHaveLength(5)
  })

  it('retryNow does nothing when no retry is waiting', async () => {
    const t = setup()
    await t.add(recs(0, 1))
    t.box.retryNow()
    await tick(999)
    expect(t.requests).toHaveLength(0)
    await tick(1)
    expect(t.requests).toHaveLength(1)
  })

  it('401: stops sending, reports once, keeps the records', async () => {
    const t = setup()
    await t.add(recs(0, 60))
    t.replies.push({ status: 401 })
    await tick(0)
    expect(t.requests).toHaveLength(1)
    await t.add(recs(60, 200))
    await tick(3_600_000)
    t.box.retryNow()
    await tick(60_000)
    expect(t.requests).toHaveLength(1)
    expect(t.reports).toEqual([['unauthorized', { status: 401 }]])
    expect(t.box.size()).toBe(200)
    expect(await t.stored()).toEqual(range(0, 200))
  })

  it.each([400, 404, 413])('%i: drops the request and reports it, then goes on', async (status) => {
    const t = setup()
    const rs = recs(0, 3)
    await t.add(rs)
    t.replies.push({ status })
    await tick(1000)
    expect(t.reports).toEqual([['http_' + status, { commands: rs.map((r) => r.command) }]])
    expect(t.box.size()).toBe(0)
    expect(await t.stored()).toEqual([])
    await t.add(recs(3, 5))
    await tick(1000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([
      [0, 1, 2],
      [3, 4],
    ])
    expect(t.reports).toHaveLength(1)
  })
})

describe('bounds', () => {
  it('keeps at most 10 000 commands: the oldest is dropped and reported', async () => {
    const t = setup()
    const rs = recs(0, 10_001)
    await t.add(rs)
    expect(t.reports).toEqual([['outbox_full', { dropped: 1 }]])
    expect(t.box.size()).toBe(10_000)
    await tick(0)
    expect(ids(t.requests[0].commands)).toEqual(range(1, 51))
    expect(await keys(t.store)).not.toContain(storageKey(rs[0].key))
  })

  it('never drops the commands of the request in flight', async () => {
    const t = setup({ latency: 100 })
    await t.add(recs(0, 50))
    await tick(0)
    expect(t.requests).toHaveLength(1)
    t.box.add(recs(50, 10_050))
    expect(t.reports).toEqual([['outbox_full', { dropped: 50 }]])
    await tick(105)
    expect(ids(t.requests[1].commands)).toEqual(range(100, 150))
    expect(t.box.size()).toBe(9_950)
  })

  it('keeps at most 5 MB: the oldest are dropped and reported', async () => {
    const t = setup()
    const big = recs(0, 6).map((r) => ({ ...r, bytes: 1_000_000 }))
    t.box.add(big.slice(0, 5))
    expect(t.reports).toEqual([])
    t.box.add(big.slice(5))
    expect(t.reports).toEqual([['outbox_full', { dropped: 1 }]])
    expect(t.box.size()).toBe(5)
    await tick(1000)
    expect(ids(t.requests[0].commands)).toEqual([1, 2, 3, 4, 5])
  })
})

describe('age', () => {
  it('is added at send time from the clock; timestamp is untouched', async () => {
    const t = setup()
    const r = rec(0, {}, T0 - 2500)
    const customer = newRecord('kc', 'tab', {
      name: 'crm/customers',
      data: { ids: { cookie: 'anon' }, company_id: 'token', project_id: 'token', properties: { plan: 'pro' } },
    })
    await t.add([r, customer])
    t.replies.push({ status: 503 })
    await tick(1000)
    await tick(1000)
    const [first, second] = t.requests.map((q) => q.commands)
    expect(first[0].data).toEqual({ ...r.command.data, age: 3.5 })
    expect(second[0].data).toEqual({ ...r.command.data, age: 4.5 })
    expect((first[0] as EventCommand).data.timestamp).toBe((T0 - 2500) / 1000)
    expect(first[1]).toEqual(customer.command)
    expect('age' in first[1].data).toBe(false)
    // the record itself is not changed
    expect('age' in r.command.data).toBe(false)
  })

  it('is never negative (event clock ahead of now)', async () => {
    const t = setup()
    await t.add([rec(0, {}, T0 + 60_000)])
    await tick(1000)
    expect((t.requests[0].commands[0] as EventCommand).data.age).toBe(0)
  })

  it('has millisecond precision', async () => {
    const t = setup()
    await t.add([rec(0, {}, T0 - 1234)])
    await tick(1000)
    expect((t.requests[0].commands[0] as EventCommand).data.age).toBe(2.234)
  })
})

describe('unload', () => {
  const bytes = (s: string) => Buffer.byteLength(s, 'utf8')

  it('beacons what is pending in chunks of at most `max`, in order, and forgets it', async () => {
    const t = setup()
    await t.add(recs(0, 120))
    t.box.unload([])
    expect(t.beaconed().map((c) => c.length)).toEqual([50, 50, 20])
    expect(
      t
        .beaconed()
        .flat()
        .map((c) => (c.data.properties as { i: number }).i),
    ).toEqual(range(0, 120))
    expect(t.box.size()).toBe(0)
    await tick(0)
    expect(await t.stored()).toEqual([])
    await tick(60000)
    expect(t.requests).toHaveLength(0)
  })

  it('beacons are JSON with `age` and stay under 64 KB', async () => {
    const t = setup()
    await t.add(recs(0, 40, { text: 'x'.repeat(5000) }))
    await tick(100)
    t.box.unload([])
    expect(t.beacons.length).toBeGreaterThan(1)
    for (const b of t.beacons) expect(bytes(b)).toBeLessThan(64 * 1024)
    const sent = t.beaconed().flat()
    expect(ids(sent)).toEqual(range(0, 40))
    expect(sent.every((c) => (c as EventCommand).data.age === 0.1)).toBe(true)
  })

  it('beacons commands not yet handed over (`extra`) after the pending ones', async () => {
    const t = setup()
    await t.add(recs(0, 3))
    const extra = recs(3, 5)
    t.box.unload(extra)
    expect(t.beaconed().map(ids)).toEqual([[0, 1, 2, 3, 4]])
    await tick(60000)
    expect(t.requests).toHaveLength(0)
    expect(await t.stored()).toEqual([])
  })

  it('does not beacon while the API is failing: pending and extra commands stay in the outbox', async () => {
    const t = await sentOnceWithReplies(3, { status: 503 })
    t.box.unload(recs(3, 5))
    expect(t.beacons).toEqual([])
    expect(t.box.size()).toBe(5)
    await tick(0)
    expect(await t.stored()).toEqual([0, 1, 2, 3, 4])
    // the page lives on: the retry delivers everything once
    await tick(2000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([
      [0, 1, 2],
      [0, 1, 2, 3, 4],
    ])
    expect(await t.stored()).toEqual([])
  })

  it('does not beacon after a 401', async () => {
    const t = await sentOnceWithReplies(3, { status: 401 })
    t.box.unload(recs(3, 4))
    expect(t.beacons).toEqual([])
    await tick(0)
    expect(await t.stored()).toEqual([0, 1, 2, 3])
  })

  it('beacons again once a request succeeded', async () => {
    const t = await sentOnceWithReplies(1, { status: 503 })
    await tick(1000)
    expect(t.requests).toHaveLength(2)
    await t.add(recs(1, 2))
    t.box.unload([])
    expect(t.beaconed().map(ids)).toEqual([[1]])
  })

  it('keeps what a refused beacon could not take, and sends it later if the page lives on', async () => {
    let calls = 0
    const t = setup({ beacon: () => ++calls == 1 })
    await t.add(recs(0, 120))
    const extra = recs(120, 125)
    t.box.unload(extra)
    expect(t.beaconed().map(ids)).toEqual([range(0, 50)])
    expect(t.box.size()).toBe(75)
    expect(await t.stored()).toEqual(range(50, 125))
    await tick(5000)
    expect(t.requests.flatMap((r) => ids(r.commands))).toEqual(range(50, 125))
    expect(await t.stored()).toEqual([])
  })

  it('commands not yet handed over that no beacon took are sent later if the page lives on', async () => {
    const t = setup({ beacon: () => false })
    t.box.unload(recs(0, 5))
    expect(t.box.size()).toBe(5)
    expect(await t.stored()).toEqual(range(0, 5))
    await tick(1000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([range(0, 5)])
  })

  it('leaves a command too large for any beacon in the outbox', async () => {
    const t = setup()
    const huge = rec(1, { text: 'y'.repeat(70_000) })
    await t.add([rec(0), huge, rec(2)])
    t.box.unload([])
    expect(t.beaconed().map(ids)).toEqual([[0, 2]])
    expect(t.box.size()).toBe(1)
    await tick(0)
    expect(await t.stored()).toEqual([1])
  })

  it('does not beacon the commands of a keepalive request in flight (no duplicates)', async () => {
    const t = setup({ latency: 200 })
    await t.add(recs(0, 60))
    await tick(0)
    expect(t.requests).toHaveLength(1)
    expect(t.requests[0].keepalive).toBe(true)
    t.box.unload([])
    expect(t.beaconed().map(ids)).toEqual([range(50, 60)])
    await tick(200)
    await tick(60000)
    expect(t.requests).toHaveLength(1)
    expect(await t.stored()).toEqual([])
  })

  it('when the page lives on and the keepalive request in flight then fails, its commands are retried', async () => {
    const t = setup({ latency: 200 })
    await t.add(recs(0, 10))
    await tick(1000)
    t.replies.push({ status: 503 })
    t.box.unload(recs(10, 12)) // e.g. the tab was hidden, then shown again
    expect(t.beaconed().map(ids)).toEqual([[10, 11]])
    await tick(200)
    await tick(0)
    expect(await t.stored()).toEqual(range(0, 10))
    await tick(5000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([range(0, 10), range(0, 10)])
    expect(await t.stored()).toEqual([])
  })

  it('retries go without keepalive, and unload leaves such a request alone (the page may abandon it)', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.99) // the retry waits 990 ms
    const t = setup({ latency: 200 })
    await t.add(recs(0, 3))
    t.replies.push({ status: 503 })
    await tick(1000) // sent
    await tick(200) // answered 503
    await tick(1000) // the retry is in flight
    expect(t.requests.map((r) => r.keepalive)).toEqual([true, false])
    t.box.unload(recs(3, 4))
    expect(t.beacons).toEqual([])
    await tick(0)
    expect(await t.stored()).toEqual([0, 1, 2, 3])
    // the page lived on: the retry's answer (ok) delivers 0-2, then 3 follows
    await tick(200)
    await tick(5000)
    expect(t.requests.slice(1).map((r) => ids(r.commands))).toEqual([[0, 1, 2], [3]])
    expect(t.requests[2].keepalive).toBe(true)
    expect(await t.stored()).toEqual([])
  })

  it('offline: requests go without keepalive', async () => {
    vi.stubGlobal('navigator', { onLine: false })
    try {
      const t = setup()
      await t.add(recs(0, 3))
      await tick(1000)
      expect(t.requests.map((r) => r.keepalive)).toEqual([false])
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('offline: beacons nothing and keeps the request in flight, so that nothing is forgotten', async () => {
    const nav = { onLine: true }
    vi.stubGlobal('navigator', nav)
    try {
      const t = setup({ latency: 200 })
      await t.add(recs(0, 3))
      await tick(1000)
      expect(t.requests[0].keepalive).toBe(true)
      nav.onLine = false // the network goes away
      t.replies.push({ status: 0 }) // the request in flight fails: there is no network
      t.box.unload(recs(3, 5))
      expect(t.beacons).toEqual([])
      await tick(200)
      await tick(0)
      expect(await t.stored()).toEqual([0, 1, 2, 3, 4])
      expect(t.box.size()).toBe(5)
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('with a large request in flight (no keepalive), leaves its commands alone', async () => {
    const t = setup({ latency: 200 })
    await t.add(recs(0, 20, { text: 'z'.repeat(4000) }))
    await tick(1000)
    expect(t.requests[0].keepalive).toBe(false)
    t.box.unload(recs(20, 21))
    expect(t.beaconed().map(ids)).toEqual([[20]])
    t.replies.push({ status: 503 })
    await tick(200)
    await tick(5000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([range(0, 20), range(0, 20)])
  })
})

describe('storage', () => {
  it('deletes records after ok or error, keeps those to retry', async () => {
    const t = setup()
    await t.add(recs(0, 3))
    expect(await t.stored()).toEqual([0, 1, 2])
    t.replies.push({ status: 200, body: { results: [{ status: 'error' }, { status: 'retry' }, { status: 'ok' }] } })
    await tick(1000)
    expect(await t.stored()).toEqual([1])
    await tick(1000)
    expect(await t.stored()).toEqual([])
  })

  it('keeps records while retrying a failed request', async () => {
    const t = await sentOnceWithReplies(2, { status: 500 }, { status: 0 })
    expect(await t.stored()).toEqual([0, 1])
    await tick(1000)
    expect(await t.stored()).toEqual([0, 1])
    await tick(2000)
    expect(await t.stored()).toEqual([])
  })

  it('goes on sending when storage fails', async () => {
    const t = setup()
    const transport: Transport = {
      async post(body) {
        const { commands } = JSON.parse(body) as { commands: Command[] }
        t.requests.push({ commands, at: Date.now() })
        return okAll(commands)
      },
      beacon: () => true,
    }
    // nothing is reported here that the test looks at
    const unread: Reports = []
    const box = outbox(outboxOptions(transport, () => Promise.reject(new Error('no IndexedDB')), unread))
    box.add(recs(0, 3))
    await tick(1000)
    await tick(1000)
    expect(t.requests.map((r) => ids(r.commands))).toEqual([[0, 1, 2]])
  })
})
