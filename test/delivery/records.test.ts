/**
 * The stored format (delivery/records.ts, session/state.ts): UTF-8 byte counts, reading what is
 * stored (current format, release 0.1.0's, garbage), and property-based storage fuzz through the
 * outbox: intact records beside arbitrary values and broken copies are delivered exactly once.
 */
import 'fake-indexeddb/auto'
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { entries, get, set } from 'idb-keyval'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { outbox, packBeacons, requestBody } from '../../src/delivery/outbox'
import { newRecord, readRecord, readRecord010, storageKey, utf8Bytes, type OutboxRecord } from '../../src/delivery/records'
import type { Transport } from '../../src/delivery/transport'
import { SESSION_KEY, SESSION_KEY_010, updateSession } from '../../src/session/state'
import { openStore, type UseStore } from '../../src/store'
import { memoryLocalStorage } from '../helpers/local-storage'
import { pass } from '../helpers/fake-time'
import { eventCommand, outboxOptions, recordingApi, T0, type Reports } from '../helpers/outbox'

const encoder = new TextEncoder()

/** A tracked event numbered `i`, with `text` as a property. */
const command = (i: number, text = '') => eventCommand(i, { text })

describe('utf8Bytes', () => {
  it.each([
    ['', 0],
    ['abc', 3],
    ['é', 2],
    ['漢字', 6],
    ['🎉', 4],
    ['👩‍👩‍👧', 18],
    ['\ud800', 3], // a lone surrogate: written as U+FFFD
    ['a\udc00b', 5],
  ])('%j is %i bytes', (text, bytes) => {
    expect(utf8Bytes(text)).toBe(bytes)
    expect(utf8Bytes(text)).toBe(encoder.encode(text).length)
  })

  it('equals what TextEncoder writes, for any string (property-based)', { timeout: 30_000 }, () => {
    // any UTF-16 units: pairs, lone surrogates, every plane
    const units = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 40 }).map((codes) => String.fromCharCode(...codes))
    fc.assert(fc.property(units, (text) => utf8Bytes(text) === encoder.encode(text).length))
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (text) => utf8Bytes(text) === encoder.encode(text).length))
  })
})

describe('requestBody', () => {
  it('tags every body with sdk and sdk_version and gives each event its age (SPEC §3)', () => {
    const record = newRecord('k1', 'tab', command(0))
    expect(JSON.parse(requestBody([record], T0 + 1500, '1.2.3'))).toEqual({
      commands: [{ ...command(0), data: { ...command(0).data, age: 1.5 } }],
      sdk: 'analytics-next-infinario',
      sdk_version: '1.2.3',
    })
  })
})

describe('packBeacons', () => {
  it('keeps every beacon of non-Latin text and emoji under 64 KB of UTF-8, in order, none left out', () => {
    // 3 300 UTF-16 units, about 9 KB of UTF-8
    const text = '漢字かな'.repeat(600) + '🎉'.repeat(450)
    const records = Array.from({ length: 30 }, (_, i) => newRecord('k' + i, 'tab', command(i, text)))
    expect(records[0].bytes).toBeGreaterThan(9000)
    const beacons = packBeacons(records, 50)
    expect(beacons.length).toBeGreaterThan(4)
    for (const beacon of beacons) expect(encoder.encode(requestBody(beacon, T0 + 1000, '0.1.0')).length).toBeLessThan(64 * 1024)
    expect(beacons.flat()).toEqual(records)
  })

  it('leaves out only a command over 64 KB by itself', () => {
    const records = [newRecord('a', 't', command(0)), newRecord('b', 't', command(1, '🎉'.repeat(17_000))), newRecord('c', 't', command(2))]
    expect(packBeacons(records, 50)).toEqual([[records[0], records[2]]])
  })
})

describe('reading records', () => {
  const intact = newRecord('key', 'tab', command(0))

  it('reads a record of the current format, recounting its bytes', () => {
    expect(readRecord({ ...intact, bytes: -5 })).toEqual(intact)
    expect(readRecord({ ...intact, lease: 5 })).toEqual({ ...intact, lease: 5 })
  })

  it.each([
    ['no version', { ...intact, version: undefined }],
    ['another version', { ...intact, version: 2 }],
    ['no key', { ...intact, key: undefined }],
    ['an empty owner', { ...intact, owner: '' }],
    ['no command', { ...intact, command: undefined }],
    ['an unknown command', { ...intact, command: { name: 'crm/other', data: {} } }],
    ['an event without timestamp', { ...intact, command: { ...intact.command, data: { ...intact.command.data, timestamp: 'x' } } }],
    ['a lease that is no number', { ...intact, lease: 'soon' }],
    ['null', null],
    ['an array', [intact]],
    ["0.1.0's shape", { k: 'key', o: 'tab', c: intact.command, n: 10 }],
  ])('rejects %s', (_, value) => {
    expect(readRecord(value)).toBeUndefined()
  })

  it("reads 0.1.0's `{k, o, c, n}` as the current format", () => {
    expect(readRecord010({ k: 'key', o: 'tab', c: intact.command, n: 'NaN' })).toEqual(intact)
    expect(readRecord010({ k: 'key', o: 'tab', n: 10 })).toBeUndefined()
    const { company_id: _, ...data010 } = intact.command.data
    const migrated = readRecord010({ k: 'key', o: 'tab', c: { ...intact.command, data: data010 }, n: 10 })
    expect(migrated?.command.data).toEqual(intact.command.data)
  })
})

describe('the session state', () => {
  const session = { id: 'sid', start: T0, last: T0 + 5, props: { path: '/' }, ids: { cookie: 'anon' } }

  it("moves 0.1.0's state (key `s`) to `session:v1`, in the same transaction", async () => {
    const store = await openStore('session-010')
    await set(SESSION_KEY_010, session, store)
    const seen: unknown[] = []
    await updateSession(
      store,
      (state) => {
        seen.push(state)
        return state
      },
      () => 0,
    )
    expect(seen).toEqual([session])
    expect(await get(SESSION_KEY, store)).toEqual({ version: 1, ...session })
    expect(await get(SESSION_KEY_010, store)).toBeUndefined()
  })

  it.each([
    ['garbage', 'x'],
    ['a wrong version', { ...session, version: 3 }],
    ['a start that is no number', { version: 1, ...session, start: 'then' }],
    ['ids that are no strings', { version: 1, ...session, ids: { cookie: 5 } }],
  ])('reports %s as unreadable, and there is no session', async (_, value) => {
    const store = await openStore('session-unreadable-' + String(value).length + JSON.stringify(value).length)
    await set(SESSION_KEY, value, store)
    const unreadable: string[] = []
    let seen: unknown = 'not called'
    await updateSession(
      store,
      (state) => {
        seen = state
        return undefined
      },
      (key) => unreadable.push(key),
    )
    expect(seen).toBeUndefined()
    expect(unreadable).toEqual([SESSION_KEY])
    expect(await get(SESSION_KEY, store)).toBeUndefined()
  })
})

// -------------------------------------------------------------------------------------------------
// through the outbox

/** An outbox of a new tab on `store`, with the storage keys of the released plugin for the token `token`. */
function box(store: UseStore, transport: Transport, reports: Reports) {
  return outbox({
    ...outboxOptions(transport, async () => store, reports),
    tab: 'new-tab',
    journalPrefix: 'infinario-token:journal:v1:',
    journalPrefix010: 'infinario-token:',
    otherKeys: [SESSION_KEY, SESSION_KEY_010],
  })
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
  vi.stubGlobal('localStorage', memoryLocalStorage())
})
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('storage of release 0.1.0 (test/fixtures/storage-0.1.0.json, made by 0.1.0 in Chromium)', () => {
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/storage-0.1.0.json', import.meta.url), 'utf8')) as {
    events: string[]
    indexedDB: { entries: [string, unknown][] }
    localStorage: Record<string, string>
  }

  it('every event in it is delivered exactly once; its session is moved; nothing of it is left', async () => {
    const store = await openStore('fixture-0.1.0')
    for (const [key, value] of fixture.indexedDB.entries) await set(key, value, store)
    for (const [key, value] of Object.entries(fixture.localStorage)) localStorage.setItem(key, value)
    const network = recordingApi()
    const sent = network.commands
    const reports: Reports = []
    const outbox010 = outbox({
      ...outboxOptions(network.transport, async () => store, reports),
      tab: 'new-tab',
      journalPrefix: `infinario-${'3f2c1a9e-8b7d-4c6e-a5f4-0d1e2b3c4a5f'}:journal:v1:`,
      journalPrefix010: `infinario-${'3f2c1a9e-8b7d-4c6e-a5f4-0d1e2b3c4a5f'}:`,
      otherKeys: [SESSION_KEY, SESSION_KEY_010],
    })
    await outbox010.adopt(() => false)
    await updateSession(
      store,
      (state) => state,
      () => 0,
    )
    await pass(1000, 3)
    const keys = sent
      .filter((c) => c.name == 'crm/events' && c.data.type == 'fixture')
      .map((c) => (c.data.properties as { key: string }).key)
    expect(keys.sort()).toEqual(fixture.events)
    const messageIds = sent.filter((c) => c.name == 'crm/events').map((c) => c.data.properties.message_id)
    expect(new Set(messageIds).size).toBe(messageIds.length)
    expect(sent.filter((c) => c.name == 'crm/customers')).toHaveLength(1)
    // 0.1.0 sent the token as project_id only: migrated commands carry it as company_id too
    for (const command of sent) expect(command.data).toMatchObject({ company_id: command.data.project_id })
    expect(reports).toEqual([])
    const left = ((await entries(store)) as [string, unknown][]).map(([key]) => key)
    expect(left).toEqual([SESSION_KEY])
    expect(await get(SESSION_KEY, store)).toMatchObject({ version: 1, id: expect.any(String) })
    expect(Object.keys(fixture.localStorage).filter((key) => localStorage.getItem(key) !== null && key.startsWith('infinario-'))).toEqual(
      [],
    )
  })
})

describe('storage fuzz (property-based)', () => {
  /** per field of a record: a value of the wrong type */
  const WRONG: Record<string, unknown> = {
    version: '1',
    key: 7,
    owner: {},
    command: 'crm/events',
    'command.name': 'crm/other',
    'command.data': [],
    'command.data.timestamp': '2024-05-01',
    'command.data.properties': 'none',
  }
  const FIELDS = Object.keys(WRONG)

  /** A copy of `record` with one field missing (`drop`) or of the wrong type. */
  function broken(record: OutboxRecord, field: string, drop: boolean) {
    const copy = structuredClone(record) as unknown as Record<string, any>
    const path = field.split('.')
    let target = copy
    for (const part of path.slice(0, -1)) target = target[part]
    const last = path[path.length - 1]
    if (drop) delete target[last]
    else target[last] = WRONG[field]
    return copy
  }

  let runs = 0

  it(
    'intact records beside arbitrary values and broken copies: each intact one delivered once, the rest reported, nothing thrown',
    { timeout: 120_000 },
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 6 }),
          fc.array(
            fc.tuple(
              fc.oneof(fc.string(), fc.constant('outbox:v1:x')).filter((key) => key != SESSION_KEY && key != SESSION_KEY_010),
              fc.jsonValue(),
            ),
            { maxLength: 6 },
          ),
          fc.array(fc.tuple(fc.nat({ max: 5 }), fc.constantFrom(...FIELDS), fc.boolean()), { maxLength: 4 }),
          fc.array(
            fc.oneof(
              fc.string(),
              fc.jsonValue().map((value) => JSON.stringify(value)),
            ),
            { maxLength: 3 },
          ),
          async (count, garbage, brokenSpecs, journals) => {
            localStorage.clear()
            const store = await openStore('fuzz-' + ++runs)
            const intact = Array.from({ length: count }, (_, i) => newRecord('k' + i, 'gone', command(i)))
            const garbageKeys = new Set(garbage.map(([key]) => key))
            for (const [key, value] of garbage) await set(key, value, store)
            for (const [n, [i, field, drop]] of brokenSpecs.entries()) {
              await set(storageKey('broken' + n), broken(intact[i % count], field, drop), store)
            }
            for (const record of intact) await set(storageKey(record.key), record, store)
            journals.forEach((text, i) => localStorage.setItem('infinario-token:journal:v1:gone' + i, text))
            const reports: Reports = []
            const { transport, delivered } = recordingApi()
            const outboxUnderTest = box(store, transport, reports)
            await outboxUnderTest.adopt(() => false)
            await pass(1000, 3)
            await pass(1000, 3)
            // the intact ones exactly once
            expect([...delivered].sort((a, b) => a - b)).toEqual(intact.map((_, i) => i))
            // every value that was no intact record is gone, and was reported
            const left = ((await entries(store)) as [string, unknown][]).map(([key]) => key)
            expect(left).toEqual([])
            const unreadable = reports.filter(([reason]) => reason == 'unreadable_record')
            const expected = garbageKeys.size + brokenSpecs.length + journals.length
            expect(unreadable).toHaveLength(expected ? 1 : 0)
            expect(localStorage.length).toBe(0)
            // new records (persisted first, as the session layer does) are delivered too
            const fresh = newRecord('z', 'new-tab', command(99))
            await set(storageKey(fresh.key), fresh, store)
            outboxUnderTest.add([fresh])
            await pass(1000, 3)
            expect(delivered.filter((i) => i == 99)).toHaveLength(1)
          },
        ),
        { numRuns: 100 },
      )
    },
  )
})
