/** A LockManager for unit tests: exclusive locks granted in request order, shared by the tabs of one origin. */

interface Waiting {
  name: string
  callback: (lock: Lock | null) => unknown
  resolve: (value: unknown) => void
  reject: (reason: unknown) => void
}

export interface FakeLocks extends LockManager {
  /** Whether a lock of this name is held now. */
  isHeld(name: string): boolean
  /** How many requests for this name wait to be granted. */
  waiting(name: string): number
  /**
   * The browser takes the lock away, as WebKit does from a page entering the back/forward cache:
   * the lock is free again and its request rejects, whatever its callback still waits for.
   */
  takeAway(name: string): void
}

export function fakeLocks(): FakeLocks {
  /** the request holding each lock */
  const holders = new Map<string, Waiting>()
  const queue: Waiting[] = []

  function grantNext(name: string) {
    if (holders.has(name)) return
    const index = queue.findIndex((request) => request.name == name)
    if (index < 0) return
    const [request] = queue.splice(index, 1)
    holders.set(name, request)
    Promise.resolve()
      .then(() => request.callback({ name, mode: 'exclusive' } as Lock))
      .then(
        (value) => end(request, () => request.resolve(value)),
        (error) => end(request, () => request.reject(error)),
      )
  }

  /** The callback of `request` settled: unless the lock was taken away meanwhile, it is free again. */
  function end(request: Waiting, settle: () => void) {
    if (holders.get(request.name) !== request) return
    holders.delete(request.name)
    settle()
    grantNext(request.name)
  }

  const manager = {
    request(name: string, ...rest: unknown[]) {
      const callback = rest[rest.length - 1] as Waiting['callback']
      return new Promise((resolve, reject) => {
        queue.push({ name, callback, resolve, reject })
        grantNext(name)
      })
    },
    async query() {
      return {
        held: [...holders.keys()].map((name) => ({ name, mode: 'exclusive' as const, clientId: 'test' })),
        pending: queue.map((request) => ({ name: request.name, mode: 'exclusive' as const, clientId: 'test' })),
      }
    },
    isHeld: (name: string) => holders.has(name),
    waiting: (name: string) => queue.filter((request) => request.name == name).length,
    takeAway(name: string) {
      const request = holders.get(name)
      if (!request) return
      holders.delete(name)
      request.reject(new DOMException('the page went into the back/forward cache', 'AbortError'))
      grantNext(name)
    },
  }
  return manager as unknown as FakeLocks
}
