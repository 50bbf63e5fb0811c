/**
 * A local, Infinario-compatible tracking API (SPEC §3) for the demo and the end-to-end tests.
 *
 *   POST /bulk                 {"commands":[…], "sdk": "…", "sdk_version": "…"} -> {"success":true,"results":[…]}
 *                              (one result per command)
 *   POST /__control/fault      JSON fault (see `setFault`); {} clears it
 *   POST /__control/reset      clears records and faults
 *   GET  /__control/state      JSON: fault, preflights, requests, commands
 *   GET  /__control/stream     server-sent events: one `data:` line per /bulk request as it is answered
 *                              (the request as in `requests`, without headers, plus `seq`: its 1-based
 *                              position in `requests`, and `mode`: its Sec-Fetch-Mode, `no-cors` for a
 *                              beacon); an `event: control` message with `{fault}` when the fault is set
 *                              or the records are reset (`reset: true`)
 *
 * Every body must carry `sdk` and `sdk_version` (non-empty strings), else the request is answered 400.
 * Every command is validated against SPEC §3–§4 (the token as both `company_id` and `project_id`; ids
 * under any valid id name, §4.1); a command that passes is answered `ok` and recorded in `commands`
 * ("reached Infinario"). CORS works like the real API: the request Origin is reflected,
 * with credentials allowed, so that `fetch` and `sendBeacon` (credentials mode `include`) both work.
 *
 * Fault injection (`setFault` or POST /__control/fault), all optional:
 *   down: true        destroy the socket without answering
 *   forbidden: true   answer HTTP 403 (the token may not track) to every /bulk request
 *   status: 503       answer this HTTP status to every /bulk request (`retryAfter`: Retry-After seconds);
 *                     401 or 403: the token is wrong or may not track
 *   retryEvery: k     every k-th valid command (counted across requests) is answered `retry`
 *   errorEvery: k     every k-th valid command is answered `error`
 *   delayMs: ms       wait this long before answering (or before dropping the connection)
 * Requests answered under `down`, `forbidden` or `status` are recorded in `requests` (status 0 for `down`), but
 * their commands are not added to `commands`.
 */
import { createServer } from 'node:http'

export const MAX_COMMANDS = 50
export const MAX_COMMAND_BYTES = 800_000
export const MAX_PROPERTIES = 255
/** timestamps above this are milliseconds, not seconds (1e11 s is the year 5138) */
export const MAX_TIMESTAMP_SECONDS = 1e11
const MAX_BODY_BYTES = 64 * 1024 * 1024

const isPlainObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)
const finite = (v) => typeof v === 'number' && Number.isFinite(v)

/** Keys containing `.` or `$`, at any depth of `value`, as paths like `a.b.c` (for error messages). */
function badKeys(value, path = [], out = []) {
  if (Array.isArray(value)) value.forEach((v, i) => badKeys(v, [...path, `[${i}]`], out))
  else if (isPlainObject(value))
    for (const [k, v] of Object.entries(value)) {
      if (/[.$]/.test(k)) out.push([...path, JSON.stringify(k)].join(' > '))
      badKeys(v, [...path, JSON.stringify(k)], out)
    }
  return out
}

/** An id name as SPEC §4.1 allows it: not empty, no `.` or `$`. */
const isIdName = (name) => name !== '' && !/[.$]/.test(name)

/** Customer ids (SPEC §4.1): any valid id names, each a non-empty string; at least one. */
function checkIds(ids, field, errors) {
  if (!isPlainObject(ids)) return errors.push(`data.${field} must be an object`)
  const keys = Object.keys(ids)
  if (!keys.length) return errors.push(`data.${field} needs at least one id`)
  const bad = keys.filter((k) => !isIdName(k))
  if (bad.length) errors.push(`data.${field} has invalid id name(s): ${bad.map((k) => JSON.stringify(k)).join(', ')}`)
  for (const k of keys)
    if (typeof ids[k] !== 'string' || !ids[k]) errors.push(`data.${field}.${k} must be a non-empty string`)
    else if (ids[k].length > 16384) errors.push(`data.${field}.${k} is over 16384 characters`)
}

/** The project token (SPEC §3): as `company_id` and as `project_id`, both equal to `token` when given. */
function checkToken(data, token, errors) {
  for (const field of ['company_id', 'project_id']) {
    const v = data[field]
    if (typeof v !== 'string' || !v) errors.push(`data.${field} must be a non-empty string`)
    else if (token != null && v !== token) errors.push(`data.${field} ${JSON.stringify(v)} is not this project's token`)
  }
}

function checkProperties(props, errors) {
  if (props === undefined) return
  if (!isPlainObject(props)) return errors.push('data.properties must be an object')
  const n = Object.keys(props).length
  if (n > MAX_PROPERTIES) errors.push(`data.properties has ${n} keys, at most ${MAX_PROPERTIES} are allowed`)
  const bad = badKeys(props)
  if (bad.length) errors.push(`property keys must not contain "." or "$": ${bad.slice(0, 10).join(', ')}`)
}

const ALLOWED = {
  'crm/customers': ['ids', 'company_id', 'project_id', 'properties'],
  'crm/events': ['customer_ids', 'company_id', 'project_id', 'type', 'timestamp', 'age', 'properties'],
}

/** The fields a /bulk body may have. */
const BODY_FIELDS = ['commands', 'sdk', 'sdk_version']

/**
 * Validates one command of a /bulk body against SPEC §3–§4.
 * @returns {string[]} the problems found; empty when the command is valid
 */
export function validateCommand(command, token) {
  const errors = []
  if (!isPlainObject(command)) return ['a command must be an object {name, data}']
  const extra = Object.keys(command).filter((k) => k !== 'name' && k !== 'data')
  if (extra.length) errors.push(`unknown command field(s): ${extra.join(', ')}`)
  const { name, data } = command
  if (!(name in ALLOWED)) return [...errors, `unknown command name ${JSON.stringify(name)}`]
  if (!isPlainObject(data)) return [...errors, 'data must be an object']
  const unknown = Object.keys(data).filter((k) => !ALLOWED[name].includes(k))
  if (unknown.length) errors.push(`unknown field(s) in ${name} data: ${unknown.join(', ')}`)
  checkIds(name === 'crm/customers' ? data.ids : data.customer_ids, name === 'crm/customers' ? 'ids' : 'customer_ids', errors)
  checkToken(data, token, errors)
  if (name === 'crm/events') {
    if (typeof data.type !== 'string' || !data.type) errors.push('data.type must be a non-empty string')
    if (!finite(data.timestamp) || data.timestamp <= 0) errors.push('data.timestamp must be a positive number of seconds')
    else if (data.timestamp > MAX_TIMESTAMP_SECONDS)
      errors.push(`data.timestamp ${data.timestamp} looks like milliseconds, seconds are expected`)
    if ('age' in data && !(finite(data.age) && data.age >= 0)) errors.push('data.age must be a number of seconds >= 0')
  }
  checkProperties(data.properties, errors)
  const bytes = Buffer.byteLength(JSON.stringify(command))
  if (bytes > MAX_COMMAND_BYTES) errors.push(`command is ${bytes} bytes, at most ${MAX_COMMAND_BYTES} are allowed`)
  return errors
}

/** One line per command, for error messages: `crm/events page_visit cookie=… registered=…`. */
export function describeCommand(c) {
  const d = c?.data ?? {}
  const ids = d.ids ?? d.customer_ids ?? {}
  const who = Object.entries(ids)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')
  return [c?.name, c?.name === 'crm/events' ? d.type : '', who, d.properties?.message_id ? `message_id=${d.properties.message_id}` : '']
    .filter(Boolean)
    .join(' ')
}

/** What is wrong with the fields of a /bulk body beside its commands (SPEC §3), or undefined. */
function bodyProblem(body) {
  const extra = Object.keys(body).filter((k) => !BODY_FIELDS.includes(k))
  if (extra.length) return `unknown body field(s): ${extra.join(', ')}`
  for (const field of ['sdk', 'sdk_version'])
    if (typeof body[field] !== 'string' || !body[field]) return `the body needs "${field}", a non-empty string`
  return undefined
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function cors(req, res) {
  const origin = req.headers.origin
  if (origin) {
    res.setHeader('Access-Control-Allow-Origin', origin)
    res.setHeader('Access-Control-Allow-Credentials', 'true')
    res.setHeader('Access-Control-Expose-Headers', 'Retry-After')
  }
  res.setHeader('Vary', 'Origin')
}

function send(res, status, body, headers = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers })
  res.end(text)
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (c) => {
      size += c.length
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error('body too large'), { status: 413 }))
        req.destroy()
      } else chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

const normalizeFault = (f) => {
  if (f == null) return {}
  if (!isPlainObject(f)) throw new TypeError('a fault must be an object')
  const out = {}
  for (const [k, v] of Object.entries(f)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'down' || k === 'forbidden') out[k] = !!v
    else if (k === 'status' || k === 'retryAfter' || k === 'retryEvery' || k === 'errorEvery' || k === 'delayMs') {
      if (!finite(v) || v < 0) throw new TypeError(`fault.${k} must be a number >= 0`)
      out[k] = v
    } else throw new TypeError(`unknown fault "${k}" (down, forbidden, status, retryAfter, retryEvery, errorEvery, delayMs)`)
  }
  return out
}

/**
 * Starts the API. `token`: when given, `company_id` and `project_id` must equal it.
 * @returns {Promise<import('./api.d.mts').ApiHandle>}
 */
export async function startApi({ port = 0, host = '127.0.0.1', token } = {}) {
  const listeners = new Set()
  const streams = new Set()
  /** tells the streams that the fault changed or the records were reset */
  const control = (data) => {
    for (const s of streams) s.res.write(`event: control\ndata: ${JSON.stringify({ fault, ...data })}\n\n`)
  }
  let fault = {}
  let counted = 0 // valid commands seen since the fault was set, for retryEvery / errorEvery

  const handle = {
    url: '',
    port: 0,
    token,
    /** every POST /bulk, in order of arrival */
    requests: [],
    /** the commands answered `ok`, in order: what reached Infinario */
    commands: [],
    /** CORS preflights received for /bulk */
    preflights: 0,
    get fault() {
      return { ...fault }
    },
    setFault(f) {
      fault = normalizeFault(f)
      counted = 0
      control({})
      return handle.fault
    },
    reset() {
      handle.requests.length = 0
      handle.commands.length = 0
      handle.preflights = 0
      fault = {}
      counted = 0
      control({ reset: true })
    },
    on(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    events(type) {
      return handle.commands.filter((c) => c.name === 'crm/events' && (type === undefined || c.data.type === type)).map((c) => c.data)
    },
    customers() {
      return handle.commands.filter((c) => c.name === 'crm/customers').map((c) => c.data)
    },
    byMessageId() {
      const m = new Map()
      for (const e of handle.events()) {
        const id = e.properties?.message_id
        if (id !== undefined) m.set(id, (m.get(id) ?? 0) + 1)
      }
      return m
    },
    duplicates() {
      return [...handle.byMessageId()].filter(([, n]) => n > 1).map(([id]) => id)
    },
    async waitFor(predicate, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs
      let last
      for (;;) {
        try {
          const v = await predicate(handle)
          if (v) return v
        } catch (e) {
          last = e
        }
        if (Date.now() >= until) throw new Error(handle.summary(`waitFor timed out after ${timeoutMs} ms`, last))
        await sleep(20)
      }
    },
    /** A readable account of what was received, for failure messages. */
    summary(title = 'API state', error) {
      const lines = [title + (error ? ` (last predicate error: ${error.message ?? error})` : '')]
      lines.push(`fault: ${JSON.stringify(fault)}; preflights: ${handle.preflights}; requests: ${handle.requests.length}`)
      handle.requests.forEach((r, i) => {
        lines.push(`  #${i + 1} HTTP ${r.status}, ${r.commands.length} command(s), ${r.sizeBytes} bytes${r.error ? ': ' + r.error : ''}`)
        r.commands.forEach((c, j) => {
          const res = r.results[j]
          const st = res ? res.status + (res.errors ? ': ' + res.errors.join('; ') : '') : '-'
          lines.push(`     ${describeCommand(c)} -> ${st}`)
        })
      })
      lines.push(`reached (ok): ${handle.commands.length}`)
      return lines.join('\n')
    },
    close: () => close(),
  }

  /** `body`: the parsed body, for its sdk fields; `error`: why the whole request was refused */
  const record = (req, status, commands, results, sizeBytes, body, error) => {
    const entry = { at: Date.now(), status, headers: { ...req.headers }, commands, results, sizeBytes }
    if (isPlainObject(body)) {
      entry.sdk = body.sdk
      entry.sdk_version = body.sdk_version
    }
    if (error) entry.error = error
    handle.requests.push(entry)
    for (const l of listeners) {
      try {
        l(entry)
      } catch {
        /* a listener's failure is its own */
      }
    }
    return entry
  }

  async function bulk(req, res) {
    let raw
    try {
      raw = await readBody(req)
    } catch (e) {
      record(req, e.status ?? 400, [], [], 0)
      return send(res, e.status ?? 400, { success: false, errors: [String(e.message)] })
    }
    const f = fault
    let parsed
    let problem
    try {
      parsed = JSON.parse(raw.toString('utf8'))
    } catch (e) {
      problem = `invalid JSON: ${e.message}`
    }
    const commands = Array.isArray(parsed?.commands) ? parsed.commands : []
    if (f.delayMs) await sleep(f.delayMs)
    if (f.down) {
      record(req, 0, commands, [], raw.length, parsed)
      req.socket.destroy()
      return
    }
    if (f.forbidden) {
      record(req, 403, commands, [], raw.length, parsed)
      return send(res, 403, { success: false, errors: ['injected HTTP 403: the token may not track'] })
    }
    if (f.status) {
      const headers = f.retryAfter !== undefined ? { 'Retry-After': String(f.retryAfter) } : {}
      record(req, f.status, commands, [], raw.length, parsed)
      return send(res, f.status, { success: false, errors: [`injected HTTP ${f.status}`] }, headers)
    }
    const type = String(req.headers['content-type'] ?? '')
      .split(';')[0]
      .trim()
      .toLowerCase()
    if (type !== 'text/plain' && type !== 'application/json')
      problem ??= `unsupported Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')}`
    if (!problem && !(isPlainObject(parsed) && Array.isArray(parsed.commands))) problem = 'the body must be {"commands": [...]}'
    if (!problem) problem = bodyProblem(parsed)
    if (!problem && commands.length > MAX_COMMANDS)
      problem = `${commands.length} commands in one request, at most ${MAX_COMMANDS} are allowed`
    if (problem) {
      const status = problem.startsWith('unsupported') ? 415 : 400
      record(req, status, commands, [], raw.length, parsed, problem)
      return send(res, status, { success: false, errors: [problem] })
    }
    const results = commands.map((c) => {
      const errors = validateCommand(c, token)
      if (errors.length) return { status: 'error', errors }
      counted++
      if (f.errorEvery && counted % f.errorEvery === 0) return { status: 'error', errors: ['injected error'] }
      if (f.retryEvery && counted % f.retryEvery === 0) return { status: 'retry' }
      return { status: 'ok' }
    })
    commands.forEach((c, i) => results[i].status === 'ok' && handle.commands.push(c))
    record(req, 200, commands, results, raw.length, parsed)
    send(res, 200, { success: true, results })
  }

  function stream(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' })
    res.write(': connected\n\n')
    const off = handle.on((entry) => {
      const seq = handle.requests.indexOf(entry) + 1
      res.write(`data: ${JSON.stringify({ ...entry, headers: undefined, seq, mode: entry.headers['sec-fetch-mode'] })}\n\n`)
    })
    const s = { res, off }
    streams.add(s)
    req.on('close', () => (off(), streams.delete(s)))
  }

  async function controlRequest(req, res, path) {
    if (req.method === 'GET' && path === '/__control/state')
      return send(res, 200, { fault, preflights: handle.preflights, requests: handle.requests, commands: handle.commands })
    if (req.method === 'GET' && path === '/__control/stream') return stream(req, res)
    if (req.method === 'POST' && path === '/__control/reset') {
      await readBody(req)
      handle.reset()
      return send(res, 200, { ok: true })
    }
    if (req.method === 'POST' && path === '/__control/fault') {
      try {
        const text = (await readBody(req)).toString('utf8').trim()
        return send(res, 200, { ok: true, fault: handle.setFault(text ? JSON.parse(text) : {}) })
      } catch (e) {
        return send(res, 400, { ok: false, error: String(e.message) })
      }
    }
    return send(res, 405, { error: 'method not allowed' })
  }

  const server = createServer(async (req, res) => {
    try {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      cors(req, res)
      const known = path === '/bulk' || ['/__control/fault', '/__control/reset', '/__control/state', '/__control/stream'].includes(path)
      if (!known) return send(res, 404, { error: 'not found' })
      if (req.method === 'OPTIONS') {
        if (path === '/bulk') handle.preflights++
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'POST, GET, OPTIONS',
          'Access-Control-Allow-Headers': req.headers['access-control-request-headers'] ?? 'Content-Type',
          'Access-Control-Max-Age': '0',
        })
        return res.end()
      }
      if (path === '/bulk') {
        if (req.method !== 'POST') return send(res, 405, { error: 'method not allowed' }, { Allow: 'POST, OPTIONS' })
        return await bulk(req, res)
      }
      return await controlRequest(req, res, path)
    } catch (e) {
      if (!res.headersSent) send(res, 500, { error: String(e?.message ?? e) })
      else res.destroy()
    }
  })

  let closed
  function close() {
    closed ??= new Promise((resolve) => {
      for (const s of streams) (s.off(), s.res.end())
      streams.clear()
      server.close(() => resolve())
      server.closeAllConnections()
    })
    return closed
  }

  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => (server.off('error', reject), resolve()))
  })
  handle.port = server.address().port
  handle.url = `http://${host.includes(':') ? `[${host}]` : host}:${handle.port}`
  return handle
}
