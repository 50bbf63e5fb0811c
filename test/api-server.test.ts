/** The local Infinario-compatible API used by the demo and the end-to-end tests (demo/server/api.mjs). */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startApi, validateCommand, type ApiHandle } from '../demo/server/api.mjs'

const TOKEN = 'test-token'
let api: ApiHandle

beforeAll(async () => {
  api = await startApi({ token: TOKEN })
})
afterAll(() => api.close())
afterEach(() => api.reset())

const ids = { cookie: 'anon-1' }
const customer = (extra: Record<string, unknown> = {}) => ({
  name: 'crm/customers',
  data: { ids, company_id: TOKEN, project_id: TOKEN, properties: { name: 'Ada' }, ...extra },
})
const event = (extra: Record<string, unknown> = {}, props: Record<string, unknown> = {}) => ({
  name: 'crm/events',
  data: {
    customer_ids: ids,
    company_id: TOKEN,
    project_id: TOKEN,
    type: 'purchase',
    timestamp: Date.now() / 1000,
    age: 0.2,
    properties: { message_id: 'm-1', ...props },
    ...extra,
  },
})

/** The body fields beside the commands that every request carries (SPEC §3). */
const SDK = { sdk: 'analytics-next-infinario', sdk_version: '0.1.0' }

/** POSTs `body` to /bulk: a string as it is, an object as JSON with the SDK fields added. */
const post = (body: unknown, init: RequestInit = {}) =>
  fetch(api.url + '/bulk', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify({ ...SDK, ...(body as object) }),
    ...init,
  })

async function bulk(commands: unknown[]) {
  const r = await post({ commands })
  return { status: r.status, body: (await r.json()) as { success: boolean; results: { status: string; errors?: string[] }[] } }
}

describe('POST /bulk', () => {
  it('accepts valid commands, text/plain or application/json, and records what reached it', async () => {
    const r = await bulk([customer(), event()])
    expect(r).toEqual({ status: 200, body: { success: true, results: [{ status: 'ok' }, { status: 'ok' }] } })
    const j = await post(
      { commands: [event({ type: 'view' }, { message_id: 'm-2' })] },
      { headers: { 'Content-Type': 'application/json' } },
    )
    expect(j.status).toBe(200)
    expect(api.commands.map((c) => c.name)).toEqual(['crm/customers', 'crm/events', 'crm/events'])
    expect(api.customers()).toEqual([customer().data])
    expect(api.events().map((e) => e.type)).toEqual(['purchase', 'view'])
    expect(api.events('view')).toHaveLength(1)
    expect(api.byMessageId()).toEqual(
      new Map([
        ['m-1', 1],
        ['m-2', 1],
      ]),
    )
    expect(api.requests).toHaveLength(2)
    expect(api.requests[0]).toMatchObject({ status: 200, results: [{ status: 'ok' }, { status: 'ok' }] })
    expect(api.requests[0].headers['content-type']).toBe('text/plain;charset=UTF-8')
    expect(api.requests[0].sizeBytes).toBeGreaterThan(0)
  })

  it('answers each invalid command with an error, by position, and does not record it', async () => {
    const r = await bulk([
      event(),
      event({ timestamp: Date.now() }),
      customer({ ids: { cookie: 'a', 'e.mail': 'x' } }),
      customer({ ids: {} }),
      customer({ ids: { registered: '' } }),
      customer({ project_id: 'other' }),
      event({}, { 'a.b': 1 }),
      event({}, { nested: { deep: { x$: 1 } } }),
      event({ age: -1 }),
      event({ type: '' }),
      { name: 'crm/other', data: {} },
      event({ extra: 1 }),
      customer({ properties: Object.fromEntries(Array.from({ length: 256 }, (_, i) => ['k' + i, i])) }),
      customer({ properties: { big: 'x'.repeat(800_000) } }),
      customer({ company_id: 'other' }),
      event({ company_id: undefined }),
    ])
    expect(r.status).toBe(200)
    const statuses = r.body.results.map((x) => x.status)
    expect(statuses).toEqual(['ok', ...Array(15).fill('error')])
    const errors = r.body.results.map((x) => (x.errors ?? []).join(' '))
    expect(errors[1]).toMatch(/milliseconds/)
    expect(errors[2]).toMatch(/invalid id name.*"e\.mail"/)
    expect(errors[3]).toMatch(/at least one id/)
    expect(errors[4]).toMatch(/registered must be a non-empty string/)
    expect(errors[5]).toMatch(/project_id "other" is not this project's token/)
    expect(errors[6]).toMatch(/"a\.b"/)
    expect(errors[7]).toMatch(/x\$/)
    expect(errors[8]).toMatch(/age/)
    expect(errors[12]).toMatch(/256 keys/)
    expect(errors[13]).toMatch(/bytes/)
    expect(errors[14]).toMatch(/company_id "other" is not this project's token/)
    expect(errors[15]).toMatch(/company_id must be a non-empty string/)
    expect(api.commands).toHaveLength(1)
  })

  it('accepts any valid id names (SPEC §4.1), each a non-empty string', async () => {
    const r = await bulk([
      customer({ ids: { customer_id: 'u-1', email_id: 'ada@example.com' } }),
      event({ customer_ids: { cart_id: 'c-9' } }),
      customer({ ids: { customer_id: 42 } }),
      customer({ ids: { email_id: 'x'.repeat(16385) } }),
    ])
    expect(r.body.results.map((x) => x.status)).toEqual(['ok', 'ok', 'error', 'error'])
    expect(r.body.results[2].errors!.join()).toMatch(/customer_id must be a non-empty string/)
    expect(r.body.results[3].errors!.join()).toMatch(/over 16384 characters/)
  })

  it('answers 400 to a body without sdk / sdk_version or with unknown fields, and records the sdk fields', async () => {
    const commands = [event()]
    const bare = await fetch(api.url + '/bulk', { method: 'POST', body: JSON.stringify({ commands }) })
    expect(bare.status).toBe(400)
    expect(((await bare.json()) as { errors: string[] }).errors).toEqual(['the body needs "sdk", a non-empty string'])
    expect((await post({ commands, sdk_version: '' })).status).toBe(400)
    expect((await post({ commands, sdk_version: 1 })).status).toBe(400)
    expect((await post({ commands, project_id: TOKEN })).status).toBe(400)
    expect(api.requests.map((x) => x.error)).toEqual([
      'the body needs "sdk", a non-empty string',
      'the body needs "sdk_version", a non-empty string',
      'the body needs "sdk_version", a non-empty string',
      'unknown body field(s): project_id',
    ])
    expect(api.commands).toEqual([])
    expect((await post({ commands })).status).toBe(200)
    expect(api.requests[4]).toMatchObject({ status: 200, sdk: 'analytics-next-infinario', sdk_version: '0.1.0' })
    expect(api.requests[4].error).toBeUndefined()
  })

  it('answers 400 to more than 50 commands and to invalid JSON, 415 to other content types', async () => {
    expect((await bulk(Array.from({ length: 51 }, () => event()))).status).toBe(400)
    expect((await bulk(Array.from({ length: 50 }, () => event()))).status).toBe(200)
    expect((await post('{"commands":')).status).toBe(400)
    expect((await post({ nope: [] })).status).toBe(400)
    expect((await post({ commands: [event()] }, { headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })).status).toBe(415)
    expect(api.requests.map((r) => r.status)).toEqual([400, 200, 400, 400, 415])
    expect(api.commands).toHaveLength(50)
  })

  it('validateCommand accepts timestamps in seconds only', () => {
    expect(validateCommand(event(), TOKEN)).toEqual([])
    expect(validateCommand(event({ timestamp: 1.7e12 }), TOKEN).join()).toMatch(/milliseconds/)
    expect(validateCommand(event({ timestamp: 'now' }), TOKEN).join()).toMatch(/timestamp/)
    expect(validateCommand(event(), undefined)).toEqual([])
  })
})

describe('CORS', () => {
  it('answers preflights, counts them, and reflects the Origin with credentials', async () => {
    const pre = await fetch(api.url + '/bulk', {
      method: 'OPTIONS',
      headers: {
        Origin: 'http://127.0.0.1:9999',
        'Access-Control-Request-Method': 'POST',
        'Access-Control-Request-Headers': 'content-type',
      },
    })
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:9999')
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true')
    expect(pre.headers.get('access-control-allow-headers')).toBe('content-type')
    expect(api.preflights).toBe(1)
    const r = await post({ commands: [event()] }, { headers: { Origin: 'http://localhost:1234' } })
    expect(r.headers.get('access-control-allow-origin')).toBe('http://localhost:1234')
    expect(r.headers.get('access-control-allow-credentials')).toBe('true')
    expect(r.headers.get('vary')).toMatch(/Origin/)
    expect(api.preflights).toBe(1)
  })
})

describe('faults', () => {
  it('status: answers it (with Retry-After), records the request, not its commands', async () => {
    api.setFault({ status: 503, retryAfter: 7 })
    const r = await post({ commands: [event()] })
    expect(r.status).toBe(503)
    expect(r.headers.get('retry-after')).toBe('7')
    api.setFault({ status: 401 })
    expect((await post({ commands: [event()] })).status).toBe(401)
    api.setFault({ status: 403 })
    expect((await post({ commands: [event()] })).status).toBe(403)
    expect(api.requests.map((x) => x.status)).toEqual([503, 401, 403])
    expect(api.requests[0].commands).toHaveLength(1)
    expect(api.commands).toEqual([])
    api.setFault({})
    expect((await post({ commands: [event()] })).status).toBe(200)
    expect(api.commands).toHaveLength(1)
  })

  it('forbidden: answers 403, records the request, not its commands', async () => {
    expect(api.setFault({ forbidden: true })).toEqual({ forbidden: true })
    const r = await post({ commands: [event()] })
    expect(r.status).toBe(403)
    expect(((await r.json()) as { errors: string[] }).errors).toEqual(['injected HTTP 403: the token may not track'])
    expect(api.requests.map((x) => [x.status, x.commands.length])).toEqual([[403, 1]])
    expect(api.commands).toEqual([])
  })

  it('down: drops the connection', async () => {
    api.setFault({ down: true })
    await expect(post({ commands: [event()] })).rejects.toThrow()
    expect(api.requests.map((x) => x.status)).toEqual([0])
    expect(api.commands).toEqual([])
  })

  it('retryEvery / errorEvery count commands across requests', async () => {
    api.setFault({ retryEvery: 2 })
    expect((await bulk([event(), event()])).body.results.map((x) => x.status)).toEqual(['ok', 'retry'])
    expect((await bulk([event(), event(), event()])).body.results.map((x) => x.status)).toEqual(['ok', 'retry', 'ok'])
    expect(api.commands).toHaveLength(3)
    api.setFault({ errorEvery: 3 })
    expect((await bulk([event(), event(), event()])).body.results.map((x) => x.status)).toEqual(['ok', 'ok', 'error'])
  })

  it('delayMs: waits before answering', async () => {
    api.setFault({ delayMs: 150 })
    const t = Date.now()
    expect((await post({ commands: [event()] })).status).toBe(200)
    expect(Date.now() - t).toBeGreaterThanOrEqual(140)
  })

  it('rejects unknown faults', () => {
    expect(() => api.setFault({ bogus: 1 } as never)).toThrow(/unknown fault/)
  })
})

describe('control endpoints', () => {
  it('sets faults, shows state, resets, and streams requests', async () => {
    const f = await fetch(api.url + '/__control/fault', { method: 'POST', body: JSON.stringify({ status: 429, retryAfter: 1 }) })
    expect(await f.json()).toEqual({ ok: true, fault: { status: 429, retryAfter: 1 } })
    expect(api.fault).toEqual({ status: 429, retryAfter: 1 })
    expect((await post({ commands: [event()] })).status).toBe(429)
    const state = await (await fetch(api.url + '/__control/state')).json()
    expect(state).toMatchObject({ fault: { status: 429 }, preflights: 0, commands: [] })
    expect(state.requests).toHaveLength(1)
    expect((await fetch(api.url + '/__control/reset', { method: 'POST' })).status).toBe(200)
    expect(api.fault).toEqual({})
    expect(api.requests).toEqual([])

    const abort = new AbortController()
    const stream = await fetch(api.url + '/__control/stream', { signal: abort.signal })
    expect(stream.headers.get('content-type')).toBe('text/event-stream')
    const reader = stream.body!.getReader()
    const seen = (async () => {
      let text = ''
      while (!text.includes('data: ')) text += new TextDecoder().decode((await reader.read()).value)
      while (!text.endsWith('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
      return JSON.parse(text.slice(text.indexOf('data: ') + 6))
    })()
    await bulk([event()])
    expect(await seen).toMatchObject({ status: 200, results: [{ status: 'ok' }] })
    abort.abort()
  })

  it('answers 404 to unknown paths and 405 to GET /bulk', async () => {
    expect((await fetch(api.url + '/nope')).status).toBe(404)
    expect((await fetch(api.url + '/bulk')).status).toBe(405)
    expect(api.requests).toEqual([])
  })
})

describe('helpers', () => {
  it('waitFor resolves with the predicate value, or rejects listing what was received', async () => {
    setTimeout(() => void bulk([event()]), 50)
    expect(await api.waitFor((a) => a.events('purchase').length)).toBe(1)
    await expect(api.waitFor((a) => a.events('never').length > 0, 100)).rejects.toThrow(/crm\/events purchase cookie=anon-1/)
  })

  it('on: calls the listener for each request; byMessageId counts duplicates', async () => {
    const seen: number[] = []
    const off = api.on((r) => seen.push(r.status))
    await bulk([event(), event()])
    off()
    await bulk([event()])
    expect(seen).toEqual([200])
    expect(api.byMessageId().get('m-1')).toBe(3)
    expect(api.duplicates()).toEqual(['m-1'])
  })
})
