/**
 * Settings (SPEC §2): defaults, the https-only rule for `apiUrl`, and hostile settings. Every
 * invalid setting gives a clear rejection (an Error naming the setting) from `load()`, never a
 * throw at creation; settings that are accepted are valid and run without trouble.
 */
import fc from 'fast-check'
import { Context } from '@segment/analytics-next'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { infinarioDestination } from '../src/plugin'
import { configure } from '../src/settings'

const TOKEN = 'a4f0c3de-5b1e-4c7a-9d2f-1e2d3c4b5a69'
const NAMES = [
  'projectToken',
  'apiUrl',
  'sessionTimeoutMs',
  'flushIntervalMs',
  'maxBatchSize',
  'eventNames',
  'consentCategories',
  'customerIds',
  'ecommerce',
  'debug',
] as const
type Name = (typeof NAMES)[number]
/** the most a browser's setTimeout accepts; a longer delay runs at once (WebIDL `long`) */
const MAX_TIMER = 2 ** 31 - 1

const boom = () => {
  throw new Error('hostile')
}

afterEach(() => {
  vi.restoreAllMocks()
  vi.unstubAllGlobals()
  expect(({} as Record<string, unknown>).debug).toBeUndefined()
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
})

/** What `configure` must do with `settings`: return a config, or throw an Error naming `name`. */
function rejects(settings: unknown, name: string) {
  let thrown: unknown
  try {
    configure(settings)
  } catch (e) {
    thrown = e
  }
  expect(thrown, `settings ${describe_(settings)} must be rejected`).toBeInstanceOf(Error)
  expect((thrown as Error).message).toContain(`"${name}"`)
  return (thrown as Error).message
}

/** A short printable form of any value, hostile ones included. */
const describe_ = (v: unknown): string => {
  try {
    if (typeof v == 'number' || typeof v == 'bigint') return typeof v == 'bigint' ? v + 'n' : String(v)
    if (v instanceof Map) return `new Map(${JSON.stringify([...v])})`
    return JSON.stringify(v, (_, x) => (typeof x == 'bigint' ? x + 'n' : x)) ?? String(v)
  } catch {
    try {
      return Object.prototype.toString.call(v)
    } catch {
      return '[hostile value]'
    }
  }
}

describe('configure: defaults and valid settings', () => {
  it('fills the defaults of SPEC §2', () => {
    const c = configure({ projectToken: TOKEN })
    expect(c).toMatchObject({
      projectToken: TOKEN,
      apiUrl: 'https://api.exponea.com',
      sessionTimeoutMs: 20 * 60_000,
      flushIntervalMs: 1000,
      maxBatchSize: 50,
      eventNames: {},
      consentCategories: [],
      customerIds: { registered: 'userId', cookie: 'anonymousId' },
      ecommerce: false,
      debug: false,
    })
  })

  it('accepts customerIds of SPEC §4.1 and keeps a snapshot of them', () => {
    const mapping: Record<string, string> = { customer_id: 'userId', cookie: 'anonymousId', email_id: 'traits.email' }
    const c = configure({ projectToken: TOKEN, customerIds: mapping as never })
    expect(c.customerIds).toEqual(mapping)
    mapping.customer_id = 'traits.changed'
    expect(c.customerIds.customer_id).toBe('userId')
    // names that are ordinary data, a trait name with a dot, a null-prototype object, one id only
    const odd = Object.assign(Object.create(null), { __proto__x: 'userId', 'hard-id': 'traits.address.email' })
    expect(configure({ projectToken: TOKEN, customerIds: odd }).customerIds).toEqual({
      __proto__x: 'userId',
      'hard-id': 'traits.address.email',
    })
    expect(configure({ projectToken: TOKEN, customerIds: { email_id: 'traits.email' } }).customerIds).toEqual({ email_id: 'traits.email' })
  })

  it('accepts ecommerce true and false', () => {
    expect(configure({ projectToken: TOKEN, ecommerce: true }).ecommerce).toBe(true)
    expect(configure({ projectToken: TOKEN, ecommerce: false }).ecommerce).toBe(false)
  })

  it('trims the token and keeps an apiUrl path without a trailing slash', () => {
    const c = configure({ projectToken: `  ${TOKEN}\n`, apiUrl: 'https://example.com/infinario/' })
    expect(c.projectToken).toBe(TOKEN)
    expect(c.apiUrl).toBe('https://example.com/infinario')
  })

  it('accepts a frozen settings object (a constant shared by the page) and does not need to write to it', () => {
    const settings = Object.freeze({ projectToken: TOKEN, debug: false })
    expect(() => configure(settings)).not.toThrow()
    expect(configure(settings).apiUrl).toBe('https://api.exponea.com')
  })

  it('a settings object parsed from JSON with "__proto__" keys pollutes nothing', () => {
    const settings = JSON.parse(`{"projectToken":"${TOKEN}","__proto__":{"debug":true,"polluted":1},"eventNames":{"__proto__":"x"}}`)
    configure(settings)
    expect(({} as Record<string, unknown>).debug).toBeUndefined()
  })
})

describe('configure: apiUrl must be https: unless the host is loopback', () => {
  const accepted = [
    'https://api.infinario.com',
    'HTTPS://API.EXAMPLE.COM/',
    'https://example.com/proxy/infinario',
    'https://10.0.0.1',
    'http://localhost',
    'http://localhost:8080/infinario',
    'http://LOCALHOST:1',
    'http://127.0.0.1:9000',
    'http://127.255.255.254',
    'http://127.1', // the URL parser makes it 127.0.0.1
    'http://0x7f.0.0.1', // ditto
    'http://[::1]:3000',
  ]
  for (const url of accepted)
    it(`accepts ${url}`, () => {
      const c = configure({ projectToken: TOKEN, apiUrl: url })
      const u = new URL(c.apiUrl)
      expect(u.protocol == 'https:' || ['localhost', '[::1]'].includes(u.hostname) || /^127\./.test(u.hostname)).toBe(true)
      expect(c.apiUrl.endsWith('/')).toBe(false)
    })

  const rejected = [
    'http://api.infinario.com',
    'http://example.com:80/',
    'http://10.0.0.1',
    'http://192.168.1.10',
    'http://0.0.0.0',
    'http://localhost.evil.example',
    'http://127.0.0.1.evil.example',
    'http://evil.example#@localhost',
    'http://localhost@evil.example',
    'http://evil.example\\@localhost',
    'http://[::2]',
    'http://[::ffff:8.8.8.8]',
    'ws://localhost',
    'wss://api.infinario.com',
    'ftp://localhost',
    'file:///etc/passwd',
    'javascript:alert(1)//https://api.infinario.com',
    'data:text/plain,https://api.infinario.com',
    'blob:https://api.infinario.com/1',
    'api.infinario.com',
    '//api.infinario.com',
    '/infinario',
    '',
    '   ',
    'https://',
    'https://exa mple.com',
  ]
  for (const url of rejected)
    it(`rejects ${JSON.stringify(url)}, naming apiUrl`, () => void rejects({ projectToken: TOKEN, apiUrl: url }, 'apiUrl'))

  it('rejects non-string apiUrl values, naming apiUrl', () => {
    for (const v of [1, true, {}, [], () => 'https://x.example', Symbol('https://x.example'), 10n, Object.create(null)])
      rejects({ projectToken: TOKEN, apiUrl: v }, 'apiUrl')
  })
})

describe('configure: each invalid setting is named', () => {
  const cases: [Name | 'settings', unknown][] = [
    ['projectToken', undefined],
    ['projectToken', ''],
    ['projectToken', '   \n\t'],
    ['projectToken', 42],
    ['projectToken', ['t']],
    ['projectToken', { toString: () => TOKEN }],
    ['sessionTimeoutMs', 0],
    ['sessionTimeoutMs', -1],
    ['sessionTimeoutMs', 1.5],
    ['sessionTimeoutMs', NaN],
    ['sessionTimeoutMs', Infinity],
    ['sessionTimeoutMs', '60000'],
    ['sessionTimeoutMs', 60000n],
    ['flushIntervalMs', -1],
    ['flushIntervalMs', '1000'],
    ['flushIntervalMs', NaN],
    ['maxBatchSize', 0],
    ['maxBatchSize', 51],
    ['maxBatchSize', 10.5],
    ['maxBatchSize', '10'],
    ['maxBatchSize', 50n],
    ['eventNames', 'Order Completed=purchase'],
    ['eventNames', { 'Order Completed': '' }],
    ['eventNames', { 'Order Completed': 1 }],
    ['eventNames', { 'Order Completed': { type: 'purchase' } }],
    ['eventNames', ['purchase']],
    ['eventNames', new Map([['Order Completed', 'purchase']])],
    ['consentCategories', 'Analytics'],
    ['consentCategories', [1]],
    ['consentCategories', [null]],
    ['consentCategories', { Analytics: true }],
    ['ecommerce', 'true'],
    ['ecommerce', 1],
    ['ecommerce', 'yes'],
    ['debug', 'true'],
    ['debug', 1],
    ['debug', 'false'],
  ]
  for (const [name, value] of cases)
    it(`${name}: ${describe_(value)}`, () => {
      const settings = name == 'projectToken' ? { projectToken: value } : { projectToken: TOKEN, [name]: value }
      const message = rejects(settings, name)
      expect(message).toMatch(/^Infinario: /)
    })

  it('a value that cannot be printed (BigInt, cycle, throwing toJSON, no prototype) still gives the named error', () => {
    const cycle: Record<string, unknown> = { a: 1 }
    cycle.self = cycle
    const values: [Name, unknown][] = [
      ['sessionTimeoutMs', 5n],
      ['flushIntervalMs', cycle],
      ['maxBatchSize', { toJSON: boom }],
      ['eventNames', cycle],
      ['eventNames', { a: 5n }],
      ['consentCategories', [5n]],
      ['debug', Object.create(null)],
      ['debug', { toJSON: boom, toString: boom }],
      ['maxBatchSize', Object.create(null)],
    ]
    for (const [name, value] of values) rejects({ projectToken: TOKEN, [name]: value }, name)
  })

  it('settings that are not an object are rejected, naming settings (or the missing projectToken)', () => {
    for (const s of [undefined, null, 0, 1, '', TOKEN, true, Symbol('s'), () => ({ projectToken: TOKEN })]) {
      let thrown: unknown
      try {
        configure(s)
      } catch (e) {
        thrown = e
      }
      expect(thrown, describe_(s)).toBeInstanceOf(Error)
      expect((thrown as Error).message).toMatch(/"settings"|"projectToken"/)
    }
  })
})

describe('configure: invalid customerIds are named, with what is wrong', () => {
  const cases: [string, unknown, RegExp][] = [
    ['not an object: a string', 'registered=userId', /must be an object mapping Infinario id names/],
    ['not an object: an array', [['registered', 'userId']], /must be an object/],
    ['not an object: a Map', new Map([['registered', 'userId']]), /must be an object/],
    ['not an object: a number', 42, /must be an object/],
    ['an empty name', { '': 'userId' }, /has an empty id name/],
    ['a name with .', { 'customer.id': 'userId' }, /id name "customer\.id": id names must not contain "\." or "\$"/],
    ['a name with $', { $email: 'traits.email' }, /id name "\$email"/],
    [
      'an unknown source',
      { registered: 'user_id' },
      /id "registered" the unknown source "user_id": use "userId", "anonymousId" or "traits.<name>"/,
    ],
    ['an unknown source: "traits."', { email_id: 'traits.' }, /unknown source "traits\."/],
    ['an unknown source: "traits"', { email_id: 'traits' }, /unknown source "traits"/],
    ['an unknown source: wrong case', { registered: 'userid' }, /unknown source "userid"/],
    ['an unknown source: a number', { registered: 1 }, /unknown source a number/],
    ['an unknown source: an object', { registered: { from: 'userId' } }, /unknown source an object/],
    ['no source at all: an empty object', {}, /maps no id at all/],
    ['no source at all: an empty string', { registered: '' }, /gives the id "registered" no source/],
    ['no source at all: null', { registered: null }, /gives the id "registered" no source/],
  ]
  for (const [what, value, message] of cases)
    it(`${what}: ${describe_(value)}`, () => {
      const error = rejects({ projectToken: TOKEN, customerIds: value }, 'customerIds')
      expect(error).toMatch(/^Infinario: setting "customerIds" /)
      expect(error).toMatch(message)
    })

  it('a hostile mapping (throwing getter, Proxy, revoked Proxy) gives the named error', () => {
    const revocable = Proxy.revocable({}, {})
    revocable.revoke()
    for (const value of [
      Object.defineProperty({}, 'registered', { get: boom, enumerable: true }),
      new Proxy({ registered: 'userId' }, { ownKeys: boom }),
      revocable.proxy,
    ])
      rejects({ projectToken: TOKEN, customerIds: value }, 'customerIds')
  })

  it('load() rejects naming customerIds and prints it', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const plugin = infinarioDestination({ projectToken: TOKEN, customerIds: { 'e.mail': 'traits.email' } })
    const analytics = { emit: vi.fn(), on: vi.fn() }
    await expect(plugin.load(new Context({ type: 'track', event: 'x' }), analytics as never)).rejects.toThrow(/setting "customerIds"/)
    expect(error.mock.calls.flat().join(' ')).toContain('"customerIds"')
    expect(plugin.isLoaded()).toBe(false)
  })
})

describe('the plugin with invalid settings', () => {
  it('never throws at creation; load() rejects with the named error and says so on the console', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const plugin = infinarioDestination({ projectToken: TOKEN, apiUrl: 'http://api.infinario.com' })
    expect(plugin.isLoaded()).toBe(false)
    const analytics = { emit: vi.fn(), on: vi.fn() }
    await expect(plugin.load(new Context({ type: 'track', event: 'x' }), analytics as never)).rejects.toThrow(/"apiUrl"/)
    expect(error).toHaveBeenCalled()
    expect(String(error.mock.calls.flat().join(' '))).toContain('apiUrl')
    // hooks stay harmless
    const ctx = new Context({ type: 'track', event: 'x', anonymousId: 'a' })
    expect(plugin.track!(ctx)).toBe(ctx)
    expect(analytics.emit).not.toHaveBeenCalled()
  })
})

// ---------------------------------------------------------------------------------------------
// fuzzing

/**
 * A hostile value that fast-check must not touch (printing a Proxy would run its traps): the
 * generator yields this description, the property builds the value with `make`.
 */
class Hostile {
  constructor(readonly kind: string) {}
  [fc.toStringMethod]() {
    return 'hostile:' + this.kind
  }
}
const HOSTILE: Record<string, () => unknown> = {
  cycle: () => {
    const o: Record<string, unknown> = { a: 'x' }
    o.self = o
    return o
  },
  throwing: () => ({ toJSON: boom, toString: boom, valueOf: boom }),
  getter: () => Object.defineProperty({}, 'x', { get: boom, enumerable: true }),
  proxy: () => new Proxy({}, { get: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, has: boom }),
  revoked: () => {
    const r = Proxy.revocable({}, {})
    r.revoke()
    return r.proxy
  },
  symbol: () => Symbol('x'),
  fn: () => () => 1,
  invalidDate: () => new Date(NaN),
  url: () => new URL('https://api.example.com/x'),
  nullProto: () => Object.create(null),
  bigArray: () => Array.from({ length: 10_000 }, (_, i) => 'c' + i),
  longString: () => 'x'.repeat(1e6),
}
const make = (v: unknown) => (v instanceof Hostile ? HOSTILE[v.kind]() : v)

/** Values of every kind, hostile ones included (build them with `make`). */
const anyValue = fc.oneof(
  fc.anything({
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
    withUnicodeString: true,
  }),
  fc.constantFrom(
    NaN,
    Infinity,
    -Infinity,
    -0,
    2 ** 53,
    Number.MAX_VALUE,
    'http://localhost',
    'https://api.example.com/',
    'http://evil.example',
    'javascript:alert(1)',
    '',
    ' ',
    '__proto__',
    ['Analytics'],
    { Signup: 'sign_up' },
    { Signup: '' },
  ),
  fc.integer({ min: -10, max: 3e9 }),
  fc.constantFrom(...Object.keys(HOSTILE)).map((k) => new Hostile(k)),
)

/**
 * The rules of SPEC §2, written independently of src/settings.ts: is `v` a valid value of setting
 * `name`? 'either' where the spec leaves it open (an upper bound for the two intervals).
 */
function verdict(name: Name, v: unknown): 'valid' | 'invalid' | 'either' {
  try {
    return rule(name, v)
  } catch {
    return 'invalid' // a value that throws when inspected (a revoked Proxy) is never a valid setting
  }
}
function rule(name: Name, v: unknown): 'valid' | 'invalid' | 'either' {
  const yes = (ok: boolean) => (ok ? 'valid' : 'invalid')
  const plain = (x: unknown) =>
    !!x && typeof x == 'object' && !Array.isArray(x) && [Object.prototype, null].includes(Object.getPrototypeOf(x))
  const int = (x: unknown, min: number) => typeof x == 'number' && Number.isInteger(x) && x >= min
  switch (name) {
    case 'projectToken':
      return yes(typeof v == 'string' && v.trim() != '')
    case 'apiUrl': {
      if (v == null) return 'valid'
      if (typeof v != 'string' && !(v instanceof URL)) return 'invalid'
      try {
        const u = new URL(String(v))
        return yes(u.protocol == 'https:' || (u.protocol == 'http:' && /^(localhost|127(\.\d+){3}|\[::1\])$/.test(u.hostname)))
      } catch {
        return 'invalid'
      }
    }
    case 'sessionTimeoutMs':
    case 'flushIntervalMs':
      return v == null ? 'valid' : !int(v, name == 'sessionTimeoutMs' ? 1 : 0) ? 'invalid' : (v as number) <= MAX_TIMER ? 'valid' : 'either'
    case 'maxBatchSize':
      return yes(v == null || (int(v, 1) && (v as number) <= 50))
    case 'eventNames':
      return yes(v == null || (plain(v) && Object.values(v as object).every((x) => typeof x == 'string' && x != '')))
    case 'consentCategories':
      return yes(v == null || (Array.isArray(v) && v.every((x) => typeof x == 'string')))
    case 'customerIds':
      return yes(
        v == null ||
          (plain(v) &&
            Object.keys(v as object).length > 0 &&
            Object.entries(v as object).every(
              ([k, source]) => k != '' && !/[.$]/.test(k) && typeof source == 'string' && /^(userId|anonymousId|traits\..+)$/s.test(source),
            )),
      )
    case 'ecommerce':
    case 'debug':
      return yes(v == null || typeof v == 'boolean')
  }
}

const base = () => ({
  projectToken: TOKEN,
  apiUrl: 'https://api.example.com',
  sessionTimeoutMs: 60_000,
  flushIntervalMs: 500,
  maxBatchSize: 20,
  eventNames: { 'Order Completed': 'purchase' },
  consentCategories: ['Analytics'],
  customerIds: { customer_id: 'userId', cookie: 'anonymousId', email_id: 'traits.email' },
  ecommerce: true,
  debug: false,
})

describe('configure on fuzzed settings', () => {
  it.each(NAMES)('%s replaced by any value: an Error naming it, or a config that is valid', (name) => {
    fc.assert(
      fc.property(anyValue, (generated) => {
        const value = make(generated)
        const settings: Record<string, unknown> = base()
        Object.defineProperty(settings, name, { value, enumerable: true, writable: true, configurable: true })
        let config: ReturnType<typeof configure> | undefined
        let thrown: unknown
        try {
          config = configure(settings)
        } catch (e) {
          thrown = e
        }
        if (thrown !== undefined) {
          expect(thrown, `configure threw a non-Error for ${name} = ${describe_(value)}`).toBeInstanceOf(Error)
          expect((thrown as Error).message, `the error for ${name} = ${describe_(value)}`).toContain(`"${name}"`)
          expect(verdict(name, value), `${name} = ${describe_(value)} is valid but was rejected: ${(thrown as Error).message}`).not.toBe(
            'valid',
          )
        } else {
          expect(verdict(name, value), `${name} = ${describe_(value)} is invalid but was accepted`).not.toBe('invalid')
          const c = config!
          expect(typeof c.projectToken == 'string' && c.projectToken.length > 0).toBe(true)
          const u = new URL(c.apiUrl)
          expect(u.protocol == 'https:' || u.protocol == 'http:').toBe(true)
          expect(Number.isInteger(c.sessionTimeoutMs) && c.sessionTimeoutMs >= 1).toBe(true)
          expect(Number.isInteger(c.flushIntervalMs) && c.flushIntervalMs >= 0).toBe(true)
          expect(Number.isInteger(c.maxBatchSize) && c.maxBatchSize >= 1 && c.maxBatchSize <= 50).toBe(true)
          expect(Array.isArray(c.consentCategories)).toBe(true)
          expect(Object.keys(c.customerIds).length).toBeGreaterThan(0)
          expect(typeof c.ecommerce).toBe('boolean')
          expect(typeof c.debug).toBe('boolean')
        }
      }),
      { numRuns: 300 },
    )
  })

  it('whole settings replaced by any value: no throw at creation, load() rejects with an Error (or resolves when valid)', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await fc.assert(
      fc.asyncProperty(anyValue, async (generated) => {
        const settings = make(generated)
        let plugin: ReturnType<typeof infinarioDestination> | undefined
        expect(() => (plugin = infinarioDestination(settings as never))).not.toThrow()
        expect(plugin!.name).toBe('Infinario')
        expect(plugin!.type).toBe('destination')
        const analytics = { emit: vi.fn(), on: vi.fn() }
        let outcome: unknown = 'resolved'
        await plugin!.load(new Context({ type: 'track', event: 'x' }), analytics as never).catch((e: unknown) => (outcome = e))
        expect(outcome, `settings ${describe_(settings)}`).toBeInstanceOf(Error)
        expect(plugin!.isLoaded()).toBe(false)
        // the hooks of a plugin that failed to load are harmless
        const ctx = new Context({ type: 'track', event: 'x', anonymousId: 'a' })
        expect(plugin!.track!(ctx)).toBe(ctx)
      }),
      { numRuns: 200 },
    )
  })

  it('hostile settings objects (throwing getters, Proxies) never throw at creation; load() rejects', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const getter = (name: string) => Object.defineProperty({ ...base() }, name, { get: boom, enumerable: true })
    const hostile: unknown[] = [
      ...NAMES.map(getter),
      new Proxy(base(), { get: boom }),
      new Proxy(base(), {
        has: boom,
        ownKeys: boom,
        getOwnPropertyDescriptor: boom,
        get: (t, k) => (k == 'projectToken' ? boom() : Reflect.get(t, k)),
      }),
      (() => {
        const r = Proxy.revocable(base(), {})
        r.revoke()
        return r.proxy
      })(),
      Object.assign(
        Object.create({
          get projectToken() {
            return boom()
          },
        }),
        {},
      ),
    ]
    for (const s of hostile) {
      let plugin: ReturnType<typeof infinarioDestination> | undefined
      expect(() => (plugin = infinarioDestination(s as never))).not.toThrow()
      let outcome: unknown = 'resolved'
      await plugin!
        .load(new Context({ type: 'track', event: 'x' }), { emit: vi.fn(), on: vi.fn() } as never)
        .catch((e: unknown) => (outcome = e))
      expect(outcome).not.toBe('resolved')
      expect(plugin!.isLoaded()).toBe(false)
    }
  })

  it('valid settings at the edges: timers are never armed with a delay a browser would run at once', async () => {
    // sessionTimeoutMs / flushIntervalMs above 2^31 - 1 ms: either rejected (naming the setting) or
    // honoured; a setTimeout with such a delay fires immediately in browsers, in a loop for the idle timer
    const delays: number[] = []
    const real = globalThis.setTimeout
    vi.stubGlobal('setTimeout', ((fn: () => void, ms?: number, ...a: unknown[]) => {
      delays.push(ms ?? 0)
      // do not start the busy loop a browser would run: record it, that is the failure
      return (ms ?? 0) > MAX_TIMER ? (0 as never) : real(fn, ms, ...a)
    }) as typeof setTimeout)
    vi.stubGlobal('addEventListener', () => {})
    vi.stubGlobal('document', { visibilityState: 'visible' })
    vi.stubGlobal('fetch', async (_: string, init: RequestInit) => {
      const n = JSON.parse(String(init.body)).commands.length
      return new Response(JSON.stringify({ success: true, results: Array.from({ length: n }, () => ({ status: 'ok' })) }))
    })
    await import('fake-indexeddb/auto' as string)
    const accepted: string[] = []
    for (const [name, value] of [
      ['sessionTimeoutMs', 30 * 24 * 3600_000],
      ['sessionTimeoutMs', MAX_TIMER + 1],
      ['sessionTimeoutMs', 1e10],
      ['flushIntervalMs', 1e10],
    ] as const) {
      const settings = { projectToken: `edge-${name}-${value}`, apiUrl: 'https://api.example.com', [name]: value }
      let ok = true
      try {
        configure(settings)
      } catch (e) {
        ok = false
        expect((e as Error).message).toContain(`"${name}"`)
      }
      if (!ok) continue
      accepted.push(`${name}=${value}`)
      const plugin = infinarioDestination(settings)
      await plugin.load(new Context({ type: 'track', event: 'x' }), { emit: vi.fn(), on: vi.fn() } as never)
      delays.length = 0
      plugin.page!(new Context({ type: 'page', anonymousId: 'anon', messageId: 'm-' + name, context: {} }))
      plugin.track!(new Context({ type: 'track', event: 'e', anonymousId: 'anon', messageId: 'm2-' + name, context: {} }))
      await new Promise((r) => real(r, 150))
      expect(
        delays.filter((d) => d > MAX_TIMER),
        `${name} = ${value} was accepted, but timers were armed with delays a browser runs at once (the idle timer then re-arms itself in a loop)`,
      ).toEqual([])
    }
  })
})
