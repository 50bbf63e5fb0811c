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

/** Tab A's presence on a fresh lock manager, and what the manager says of A's lock once its callbacks ran. */
function tabA() {
  const locks = fakeLocks()
  const presence = tabLock(locks, 'A')
  const lockState = async () => {
    await flush()
    return { held: locks.isHeld(LOCK), waiting: locks.waiting(LOCK) }
  }
  return { locks, presence, lockState }
}

const HELD = { held: true, waiting: 0 }
const FREE = { held: false, waiting: 0 }

describe("a tab's presence by its Web Lock", () => {
  it('is not held until hold(), held once hold() resolves, free after release()', async () => {
    const { presence, lockState } = tabA()
    expect(await lockState()).toEqual(FREE)
    await presence.hold()
    expect(await lockState()).toEqual(HELD)
    presence.release()
    expect(await lockState()).toEqual(FREE)
  })

  it('hold() while held asks for nothing more', async () => {
    const { presence, lockState } = tabA()
    await presence.hold()
    await presence.hold()
    expect(await lockState()).toEqual(HELD)
  })

  it('release() before the lock was granted: it is given back as soon as it is granted', async () => {
    const { presence, lockState } = tabA()
    const granted = presence.hold()
    presence.release()
    await granted
    expect(await lockState()).toEqual(FREE)
  })

  it('release() then hold() at once: held again once the first request let go, and by one request only', async () => {
    const { presence, lockState } = tabA()
    await presence.hold()
    presence.release()
    await presence.hold()
    expect(await lockState()).toEqual(HELD)
    presence.release()
    expect(await lockState()).toEqual(FREE)
  })

  it('taken away by the browser (WebKit, entering the back/forward cache): the next hold() asks for it again', async () => {
    const { locks, presence, lockState } = tabA()
    await presence.hold()
    locks.takeAway(LOCK)
    expect(await lockState()).toEqual(FREE)
    await presence.hold()
    expect(await lockState()).toEqual(HELD)
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
