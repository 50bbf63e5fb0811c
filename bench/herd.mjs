/**
 * Retry herd (SPEC §6): a pure simulation, in Node, of 10 000 clients of one API that is down for
 * 60 s, using the project's own retry policy (src/delivery/retry.ts: `verdict`, `backoff`,
 * `retryAfter`), transpiled on the fly with the installed TypeScript.
 *
 * Each simulated client behaves like the outbox (src/delivery/outbox.ts):
 *  - it tracks events at random (Poisson, one every EVENT_GAP_S seconds on average);
 *  - one bulk request at a time, of at most 50 commands; a new command waits at most
 *    flushIntervalMs (1 s) before a send, none when 50 are pending;
 *  - an answer goes through `verdict(status)`; on `retry` the next try waits
 *    max(retryAfter(header), backoff(++attempt, random)); on `ok` the attempt count goes back to 0.
 * The API answers 503 (no Retry-After) to every request sent during the outage, 200 otherwise,
 * LATENCY_MS after the request. The timeline: 60 s of normal traffic, the 60 s outage, and the minute
 * after recovery, in which the request rate is counted per second: peak / mean (goal ≤ 2).
 * The same clients with a fixed retry interval instead of the backoff are the comparison.
 *
 *   node bench/herd.mjs        prints the results as JSON
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ROOT } from './sizes.mjs'

export const HERD = {
  clients: 10_000,
  /** mean seconds between two events of one client */
  eventGapS: 30,
  warmupS: 60,
  outageS: 60,
  afterS: 60,
  latencyMs: 50,
  flushIntervalMs: 1000,
  maxBatch: 50,
  seed: 20240601,
}

/** Loads src/delivery/retry.ts, transpiled to JavaScript; checks it has what the simulation uses. */
export async function loadRetryPolicy(path = join(ROOT, 'src/delivery/retry.ts')) {
  const ts = (await import('typescript')).default
  const source = readFileSync(path, 'utf8')
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    fileName: path,
  })
  if (/^\s*import\s[^;]*from\s*['"]\./m.test(outputText))
    throw new Error(`${path} imports other modules; the herd simulation loads it on its own`)
  const mod = await import('data:text/javascript;base64,' + Buffer.from(outputText).toString('base64'))
  for (const name of ['backoff', 'retryAfter', 'verdict'])
    if (typeof mod[name] !== 'function') throw new Error(`${path} does not export a function \`${name}\``)
  return mod
}

/** Deterministic PRNG (mulberry32), uniform in [0, 1). */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A binary min-heap of [time, kind, client, generation] by time. */
class Heap {
  a = []
  push(e) {
    const a = this.a
    a.push(e)
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1
      if (a[p][0] <= a[i][0]) break
      ;[a[p], a[i]] = [a[i], a[p]]
      i = p
    }
  }
  pop() {
    const a = this.a
    const top = a[0]
    const last = a.pop()
    if (a.length) {
      a[0] = last
      for (let i = 0; ;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < a.length && a[l][0] < a[m][0]) m = l
        if (r < a.length && a[r][0] < a[m][0]) m = r
        if (m === i) break
        ;[a[m], a[i]] = [a[i], a[m]]
        i = m
      }
    }
    return top
  }
  get size() {
    return this.a.length
  }
}

const EVENT = 0
const TIMER = 1
const ANSWER = 2

/**
 * One run. `retry(attempt, now, answer)` gives the delay (ms) before the next try; `answer` is
 * { status, retryAfter } of the failed request. Returns per-second request counts and a summary.
 */
export function simulate(policy, retry, o = HERD) {
  const random = prng(o.seed)
  const n = o.clients
  const outageStart = o.warmupS * 1000
  const outageEnd = outageStart + o.outageS * 1000
  const end = outageEnd + o.afterS * 1000
  const q = new Int32Array(n) // pending commands, in flight included
  const flight = new Int32Array(n)
  const attempt = new Int32Array(n)
  const waiting = new Uint8Array(n)
  const timerAt = new Float64Array(n).fill(-1) // -1: no timer
  const gen = new Uint32Array(n) // invalidates superseded timers
  const sentAt = new Float64Array(n)
  const failed = new Uint8Array(n) // failed during the outage and not delivered since
  const perSecond = new Uint32Array(Math.ceil(end / 1000))
  const retriesPerSecond = new Uint32Array(perSecond.length)
  let requestsInOutage = 0
  let lastRecovered = outageEnd
  const heap = new Heap()
  const gap = () => -Math.log(1 - random()) * o.eventGapS * 1000

  const setTimer = (c, at) => {
    timerAt[c] = at
    heap.push([at, TIMER, c, ++gen[c]])
  }
  function schedule(c, now) {
    const delay = q[c] >= o.maxBatch ? 0 : o.flushIntervalMs
    if (waiting[c] || flight[c] || !q[c] || (timerAt[c] >= 0 && delay)) return
    setTimer(c, now + delay)
  }
  function send(c, now) {
    timerAt[c] = -1
    waiting[c] = 0
    if (flight[c] || !q[c]) return
    flight[c] = Math.min(q[c], o.maxBatch)
    sentAt[c] = now
    const s = Math.floor(now / 1000)
    perSecond[s]++
    if (attempt[c]) retriesPerSecond[s]++
    if (now >= outageStart && now < outageEnd) requestsInOutage++
    heap.push([now + o.latencyMs, ANSWER, c, 0])
  }
  function answer(c, now) {
    const down = sentAt[c] >= outageStart && sentAt[c] < outageEnd
    const a = down ? { status: 503, retryAfter: null } : { status: 200, retryAfter: null }
    const v = policy.verdict(a.status)
    if (v === 'ok') {
      q[c] -= flight[c]
      flight[c] = 0
      attempt[c] = 0
      if (failed[c]) ((failed[c] = 0), (lastRecovered = Math.max(lastRecovered, now)))
      schedule(c, now)
    } else if (v === 'retry') {
      flight[c] = 0
      waiting[c] = 1
      if (down) failed[c] = 1
      setTimer(c, now + retry(++attempt[c], now, a))
    } else throw new Error(`unexpected verdict ${v} for HTTP ${a.status}`)
  }

  for (let c = 0; c < n; c++) heap.push([gap(), EVENT, c, 0])
  while (heap.size) {
    const [t, kind, c, g] = heap.pop()
    if (t >= end) break
    if (kind === EVENT) {
      q[c]++
      schedule(c, t)
      heap.push([t + gap(), EVENT, c, 0])
    } else if (kind === TIMER) {
      if (g === gen[c] && timerAt[c] >= 0) send(c, t)
    } else answer(c, t)
  }

  const window = (from, to) => Array.from(perSecond.slice(from, to))
  const after = window(o.warmupS + o.outageS, o.warmupS + o.outageS + o.afterS)
  const before = window(Math.floor(o.warmupS / 2), o.warmupS)
  const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length
  const peak = Math.max(...after)
  return {
    policy: policy.name,
    steadyRate: mean(before),
    afterPeak: peak,
    afterPeakSecond: after.indexOf(peak),
    afterMean: mean(after),
    peakToMean: peak / mean(after),
    peakToSteady: peak / mean(before),
    requestsInOutage,
    retriesAfterRecovery: Array.from(retriesPerSecond.slice(o.warmupS + o.outageS)).reduce((s, x) => s + x, 0),
    /** seconds after recovery when the last client that failed during the outage delivered */
    drainedAfterS: (lastRecovered - outageEnd) / 1000,
    stillFailing: failed.reduce((s, x) => s + x, 0),
    afterPerSecond: after,
  }
}

/** The herd with the project's policy, and with fixed retry intervals for comparison. */
export async function runHerd(o = HERD) {
  const policy = await loadRetryPolicy()
  const started = performance.now()
  // the backoff's jitter: a seeded stream of its own, so that runs are reproducible
  const jitter = prng(o.seed ^ 0x5eed)
  const project = simulate(
    { name: 'exponential backoff, full jitter (src/delivery/retry.ts)', verdict: policy.verdict },
    (attempt, now, a) => Math.max(policy.retryAfter(a.retryAfter, now) || 0, policy.backoff(attempt, jitter)),
    o,
  )
  const fixed = [1000, 10000].map((ms) => simulate({ name: `fixed ${ms / 1000} s retry interval`, verdict: policy.verdict }, () => ms, o))
  return { options: o, project, fixed, ms: performance.now() - started }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runHerd()
  for (const s of [r.project, ...r.fixed]) {
    const { afterPerSecond, ...rest } = s
    console.log(JSON.stringify(rest), '\n  first 15 s after recovery:', afterPerSecond.slice(0, 15).join(' '))
  }
  console.log(`${r.ms.toFixed(0)} ms`)
}
