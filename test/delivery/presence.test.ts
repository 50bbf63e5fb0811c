/**
 * A tab's presence by its Web Lock (delivery/tabs.ts `tabLock`): held between hold() and release(),
 * asked for again after the browser took it away, never left held by a release that came first.
 */
import { describe, expect, it } from 'vitest'
import { LOCK_PREFIX, tabLock } from '../../src/delivery/tabs'
import { fakeLocks } from '../helpers/locks'

const LOCK = LOCK_PREFIX + 'A'

/** Lets the fake lock manager's promise callbacks run. */
async function flush() {
  for (let i = 0; i < 10; i++) await Promise.resolve()
}

describe("a tab's presence by its Web Lock", () => {
  it('is not held until hold(), held once hold() resolves, free after release()', async () => {
    const locks = fakeLocks()
    const presence = tabLock(locks, 'A')
    expect(locks.isHeld(LOCK)).toBe(false)
    await presence.hold()
    expect(locks.isHeld(LOCK)).toBe(true)
    presence.release()
    await flush()
    expect(locks.isHeld(LOCK)).toBe(false)
  })

  it('hold() while held asks for nothing more', async () => {
    const locks = fakeLocks()
    const presence = tabLock(locks, 'A')
    await presence.hold()
    await presence.hold()
    expect(locks.waiting(LOCK)).toBe(0)
    expect(locks.isHeld(LOCK)).toBe(true)
  })

  it('release() before the lock was granted: it is given back as soon as it is granted', async () => {
    const locks = fakeLocks()
    const presence = tabLock(locks, 'A')
    const granted = presence.hold()
    presence.release()
    await granted
    await flush()
    expect(locks.isHeld(LOCK)).toBe(false)
    expect(locks.waiting(LOCK)).toBe(0)
  })

  it('release() then hold() at once: held again once the first request let go, and by one request only', async () => {
    const locks = fakeLocks()
    const presence = tabLock(locks, 'A')
    await presence.hold()
    presence.release()
    await presence.hold()
    await flush()
    expect(locks.isHeld(LOCK)).toBe(true)
    expect(locks.waiting(LOCK)).toBe(0)
    presence.release()
    await flush()
    expect(locks.isHeld(LOCK)).toBe(false)
  })

  it('taken away by the browser (WebKit, entering the back/forward cache): the next hold() asks for it again', async () => {
    const locks = fakeLocks()
    const presence = tabLock(locks, 'A')
    await presence.hold()
    locks.takeAway(LOCK)
    await flush()
    expect(locks.isHeld(LOCK)).toBe(false)
    await presence.hold()
    expect(locks.isHeld(LOCK)).toBe(true)
  })

  it('a request the browser refuses lets the caller go on without the lock', async () => {
    const refusing = { request: () => Promise.reject(new DOMException('denied', 'SecurityError')) } as unknown as LockManager
    await expect(tabLock(refusing, 'A').hold()).resolves.toBeUndefined()
    const throwing = {
      request: () => {
        throw new TypeError('no locks here')
      },
    } as unknown as LockManager
    await expect(tabLock(throwing, 'A').hold()).resolves.toBeUndefined()
  })
})
