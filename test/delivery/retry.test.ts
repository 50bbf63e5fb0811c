import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { backoff, BASE_MS, CAP_MS, retryAfter, statuses, verdict } from '../../src/delivery/retry'

describe('verdict', () => {
  it.each([
    [200, 'ok'],
    [204, 'ok'],
    [207, 'ok'],
    [401, 'stop'],
    [403, 'stop'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [0, 'retry'],
    [400, 'drop'],
    [404, 'drop'],
    [413, 'drop'],
  ])('%i -> %s', (status, v) => expect(verdict(status)).toBe(v))
})

describe('backoff', () => {
  it('has base 1 s and cap 60 s', () => {
    expect(BASE_MS).toBe(1000)
    expect(CAP_MS).toBe(60000)
  })

  it('stays within [0, min(60000, 1000·2^(attempt-1))] for any attempt and random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const d = backoff(attempt, () => r)
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThanOrEqual(Math.min(60000, 1000 * 2 ** (attempt - 1)))
        expect(Number.isFinite(d)).toBe(true)
      }),
    )
  })

  it('is full jitter: the random source scales the whole window', () => {
    expect(backoff(1, () => 0)).toBe(0)
    expect(backoff(1, () => 0.5)).toBe(500)
    expect(backoff(2, () => 0.5)).toBe(1000)
    expect(backoff(3, () => 0.25)).toBe(1000)
    expect(backoff(4, () => 0.999)).toBeCloseTo(7992)
  })

  it('doubles the window per attempt until the 60 s cap', () => {
    const top = (n: number) => backoff(n, () => 1)
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(top)).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000])
    expect(top(50)).toBe(60000)
    expect(top(5000)).toBe(60000)
  })

  it('uses Math.random by default', () => {
    const spy = vi.spyOn(Math, 'random').mockReturnValue(0.5)
    try {
      expect(backoff(3)).toBe(2000)
      expect(spy).toHaveBeenCalled()
    } finally {
      spy.mockRestore()
    }
  })
})

describe('retryAfter', () => {
  const now = Date.parse('2024-05-01T12:00:00Z')

  it('reads delay-seconds', () => {
    expect(retryAfter('5', now)).toBe(5000)
    expect(retryAfter('0', now)).toBe(0)
    expect(retryAfter(' 30 ', now)).toBe(30000)
  })

  it('reads an HTTP date relative to now', () => {
    expect(retryAfter('Wed, 01 May 2024 12:00:10 GMT', now)).toBe(10000)
    expect(retryAfter(new Date(now + 90_000).toUTCString(), now)).toBe(90000)
  })

  it('treats a date in the past as "now"', () => {
    expect(retryAfter('Wed, 01 May 2024 11:00:00 GMT', now)).toBe(0)
  })

  it('caps at one hour', () => {
    expect(retryAfter('999999', now)).toBe(3600000)
    expect(retryAfter('Thu, 01 May 2025 12:00:00 GMT', now)).toBe(3600000)
  })

  it('is undefined when absent or unreadable', () => {
    expect(retryAfter(undefined, now)).toBeUndefined()
    expect(retryAfter(null, now)).toBeUndefined()
    expect(retryAfter('', now)).toBeUndefined()
    expect(retryAfter('soon', now)).toBeUndefined()
  })

  it('never turns a malformed value into a wait', () => {
    // not a valid delay: at most "no extra wait" (the backoff still applies, see outbox tests)
    expect(retryAfter('-5', now) || 0).toBe(0)
    expect(retryAfter('1.5', now) || 0).toBe(0)
  })
})

describe('statuses', () => {
  it('reads one status per command by position', () => {
    const body = { success: true, results: [{ status: 'ok' }, { status: 'retry' }, { status: 'error', errors: ['bad'] }] }
    expect(statuses(body, 3)).toEqual(['ok', 'retry', 'error'])
  })

  it('a missing result means retry', () => {
    expect(statuses({ success: true, results: [{ status: 'ok' }] }, 3)).toEqual(['ok', 'retry', 'retry'])
    expect(statuses({ success: true, results: [] }, 2)).toEqual(['retry', 'retry'])
    expect(statuses({ success: true }, 2)).toEqual(['retry', 'retry'])
  })

  it('ignores extra results', () => {
    expect(statuses({ results: [{ status: 'ok' }, { status: 'error' }, { status: 'ok' }] }, 1)).toEqual(['ok'])
  })

  it('garbage bodies and results mean retry, never throw', () => {
    for (const body of [undefined, null, 0, 'text', [], {}, { results: 'ok' }, { results: {} }, { results: null }])
      expect(statuses(body, 2)).toEqual(['retry', 'retry'])
    expect(statuses({ results: [null, 'ok', { status: 'OK' }, { status: 1 }, { status: 'error' }, {}] }, 6)).toEqual([
      'retry',
      'retry',
      'retry',
      'retry',
      'error',
      'retry',
    ])
  })

  it('returns nothing for zero commands', () => {
    expect(statuses({ results: [{ status: 'ok' }] }, 0)).toEqual([])
  })
})
