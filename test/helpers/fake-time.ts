/** Fake timers beside fake-indexeddb, shared by the storage-backed unit tests. */
import { vi } from 'vitest'

/** fake-indexeddb runs on real `setImmediate`; this lets its pending work finish. */
export async function settle(rounds = 40): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Lets `ms` of fake time pass, with the timers and the storage work they start. */
export async function pass(ms: number, followUps = 4): Promise<void> {
  await settle()
  await vi.advanceTimersByTimeAsync(ms)
  for (let i = 0; i < followUps; i++) {
    await settle()
    await vi.advanceTimersByTimeAsync(1)
  }
}
