import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Properties } from '../../src/mapping/types'
import { expired, idle, step, type Activity, type Session } from '../../src/session/machine'

const MIN = 60_000
const TIMEOUT = 20 * MIN
const T0 = Date.parse('2024-05-01T12:00:00Z')
const anon = { cookie: 'anon-1' }
const props = { location: 'https://shop.example/', path: '/', browser: 'Firefox' }

let n = 0
const newId = () => 'sid-' + ++n

const page = (at: number, ids = anon, p: Properties = props): Activity => ({ at, opens: true, ids, props: p })
const track = (at: number, ids = anon): Activity => ({ at, ids, props: {} })
const reset = (at: number): Activity => ({ at, reset: true, ids: {}, props: {} })

/** Runs calls through the machine; returns the final state and every session event as [type, at, session id]. */
function run(calls: Activity[], state?: Session) {
  const out: [string, number, string][] = []
  for (const a of calls) {
    const [s, emits] = step(state, a, TIMEOUT, newId)
    state = s
    for (const e of emits) out.push([e.type, e.at, e.session.id])
  }
  return { state, out }
}

describe('opening', () => {
  it('a page opens a session, starting at the call time', () => {
    n = 0
    const [s, emits] = step(undefined, page(T0), TIMEOUT, newId)
    expect(s).toEqual({ id: 'sid-1', start: T0, last: T0, props, ids: anon })
    expect(emits).toEqual([{ type: 'session_start', at: T0, session: s }])
  })

  it('a screen (any opening call) opens one too', () => {
    const [s, emits] = step(undefined, { at: T0, opens: true, ids: anon, props: {} }, TIMEOUT, newId)
    expect(s).toBeDefined()
    expect(emits.map((e) => e.type)).toEqual(['session_start'])
  })

  it('a track, identify, … does not open one', () => {
    const [s, emits] = step(undefined, track(T0), TIMEOUT, newId)
    expect(s).toBeUndefined()
    expect(emits).toEqual([])
  })

  it('a page in an open session does not open another', () => {
    const { state, out } = run([page(T0), page(T0 + MIN), page(T0 + 2 * MIN)])
    expect(out.map(([t]) => t)).toEqual(['session_start'])
    expect(state!.start).toBe(T0)
  })

  it('keeps the props of the page that opened the session', () => {
    const { state } = run([page(T0), page(T0 + MIN, anon, { location: 'https://shop.example/cart', path: '/cart' })])
    expect(state!.props).toEqual(props)
  })
})

describe('activity', () => {
  it('any call extends the session', () => {
    const { state, out } = run([page(T0), track(T0 + 15 * MIN), track(T0 + 30 * MIN), page(T0 + 45 * MIN)])
    expect(out.map(([t]) => t)).toEqual(['session_start'])
    expect(state!.last).toBe(T0 + 45 * MIN)
    expect(state!.start).toBe(T0)
  })

  it('records the identity of the last activity', () => {
    const user = { registered: 'u1', cookie: 'anon-1' }
    const { state } = run([page(T0), track(T0 + 1, user)])
    expect(state!.ids).toEqual(user)
  })

  it("a call without customer ids is no one's activity: it neither opens, extends nor ends a session", () => {
    const none = (at: number, opens = false): Activity => ({ at, opens, props: {} })
    expect(run([none(T0, true)])).toEqual({ state: undefined, out: [] })
    const { state, out } = run([page(T0), none(T0 + 10 * MIN), none(T0 + 30 * MIN, true)])
    expect(out.map(([t]) => t)).toEqual(['session_start'])
    expect(state!.last).toBe(T0)
  })

  it('does not move `last` back when the clock goes backwards, nor end the session', () => {
    const { state, out } = run([page(T0), track(T0 + 10 * MIN), track(T0 - 60 * MIN), page(T0 - 59 * MIN)])
    expect(out.map(([t]) => t)).toEqual(['session_start'])
    expect(state!.last).toBe(T0 + 10 * MIN)
  })

  it('`last` never decreases, for any sequence of call times', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -10 * TIMEOUT, max: 10 * TIMEOUT }), { minLength: 1, maxLength: 30 }), (times) => {
        let state: Session | undefined
        for (const t of times) {
          const before = state
          ;[state] = step(state, track(T0 + t), TIMEOUT, newId)
          if (before && state && before.id == state.id) expect(state.last).toBeGreaterThanOrEqual(before.last)
          ;[state] = step(state, page(T0 + t), TIMEOUT, newId)
        }
      }),
    )
  })
})

describe('expiry', () => {
  it('expires only when inactivity is strictly greater than the timeout', () => {
    const s: Session = { id: 'x', start: T0, last: T0, props, ids: anon }
    expect(expired(s, T0 + TIMEOUT, TIMEOUT)).toBe(false)
    expect(expired(s, T0 + TIMEOUT + 1, TIMEOUT)).toBe(true)
    expect(expired(undefined, T0 + 10 * TIMEOUT, TIMEOUT)).toBe(false)
  })

  it('a call exactly at the timeout extends the session', () => {
    const { out } = run([page(T0), page(T0 + TIMEOUT)])
    expect(out.map(([t]) => t)).toEqual(['session_start'])
  })

  it('idle ends an expired session, back-dated to its last activity', () => {
    const { state } = run([page(T0), track(T0 + 5 * MIN)])
    expect(idle(state, T0 + 25 * MIN, TIMEOUT)).toEqual([state, []])
    const [s, emits] = idle(state, T0 + 25 * MIN + 1, TIMEOUT)
    expect(s).toBeUndefined()
    expect(emits).toEqual([{ type: 'session_end', at: T0 + 5 * MIN, session: state }])
    expect(emits[0].at - emits[0].session.start).toBe(5 * MIN)
  })

  it('idle does nothing without a session', () => {
    expect(idle(undefined, T0, TIMEOUT)).toEqual([undefined, []])
  })

  it('a page after expiry ends the old session (back-dated) and opens a new one', () => {
    n = 0
    const { state, out } = run([page(T0), track(T0 + 3 * MIN), page(T0 + 3 * MIN + TIMEOUT + 1)])
    expect(out).toEqual([
      ['session_start', T0, 'sid-1'],
      ['session_end', T0 + 3 * MIN, 'sid-1'],
      ['session_start', T0 + 3 * MIN + TIMEOUT + 1, 'sid-2'],
    ])
    expect(state).toMatchObject({ id: 'sid-2', start: T0 + 3 * MIN + TIMEOUT + 1 })
  })

  it('a track after expiry ends the session without opening one', () => {
    n = 0
    const { state, out } = run([page(T0), track(T0 + TIMEOUT + 1), track(T0 + TIMEOUT + 2)])
    expect(out).toEqual([
      ['session_start', T0, 'sid-1'],
      ['session_end', T0, 'sid-1'],
    ])
    expect(state).toBeUndefined()
  })

  it('ends a session after a very long absence (a later visit) exactly once', () => {
    const { out } = run([page(T0), track(T0 + 30 * 24 * 60 * MIN), page(T0 + 30 * 24 * 60 * MIN + 1)])
    expect(out.map(([t]) => t)).toEqual(['session_start', 'session_end', 'session_start'])
  })
})

describe('reset', () => {
  it('ends the open session at the reset, with the old identity', () => {
    const user = { registered: 'u1', cookie: 'anon-1' }
    const { state: open } = run([page(T0), track(T0 + MIN, user)])
    const [s, emits] = step(open, reset(T0 + 2 * MIN), TIMEOUT, newId)
    expect(s).toBeUndefined()
    expect(emits).toEqual([{ type: 'session_end', at: T0 + 2 * MIN, session: open }])
    expect(emits[0].session.ids).toEqual(user)
  })

  it('does nothing without a session', () => {
    expect(step(undefined, reset(T0), TIMEOUT, newId)).toEqual([undefined, []])
  })

  it('after expiry: only the back-dated end, once', () => {
    const { out } = run([page(T0), reset(T0 + TIMEOUT + 5)])
    expect(out.map(([t, at]) => [t, at])).toEqual([
      ['session_start', T0],
      ['session_end', T0],
    ])
  })

  it('with the clock gone backwards: the end is not before the last activity', () => {
    const { state: open } = run([page(T0), track(T0 + 5 * MIN)])
    const [, emits] = step(open, reset(T0), TIMEOUT, newId)
    expect(emits.map((e) => e.at)).toEqual([T0 + 5 * MIN])
  })

  it('the next page opens a fresh session', () => {
    n = 0
    const { out } = run([page(T0), reset(T0 + MIN), page(T0 + 2 * MIN, { cookie: 'anon-2' })])
    expect(out).toEqual([
      ['session_start', T0, 'sid-1'],
      ['session_end', T0 + MIN, 'sid-1'],
      ['session_start', T0 + 2 * MIN, 'sid-2'],
    ])
  })
})

describe('invariants', () => {
  it('for any calls: starts and ends alternate, each session ends at most once, ends are never before starts', () => {
    const call = fc.record({ dt: fc.integer({ min: -MIN, max: 2 * TIMEOUT }), kind: fc.constantFrom('page', 'track', 'reset') })
    fc.assert(
      fc.property(fc.array(call, { maxLength: 60 }), (calls) => {
        let t = T0
        const acts = calls.map(({ dt, kind }) => ((t += dt), kind == 'page' ? page(t) : kind == 'reset' ? reset(t) : track(t)))
        const { state, out } = run(acts)
        let open: [string, number] | undefined
        for (const [type, at, id] of out) {
          if (type == 'session_start') {
            expect(open).toBeUndefined()
            open = [id, at]
          } else {
            expect(open?.[0]).toBe(id)
            expect(at).toBeGreaterThanOrEqual(open![1])
            open = undefined
          }
        }
        expect(state?.id).toBe(open?.[0])
      }),
    )
  })
})
