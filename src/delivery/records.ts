/**
 * What the outbox keeps in a visitor's browser (SPEC §6), format version 1, and how it is read back.
 *
 * IndexedDB (object store `kv` of the database `infinario-<projectToken>`):
 *   `outbox:v1:<key>`  an OutboxRecord
 * localStorage:
 *   `infinario-<projectToken>:journal:v1:<tab>`  an UnloadJournal (see outbox.ts `unload`)
 *   `infinario-<projectToken>:tab:v1:<tab>`      a tab's heartbeat, where Web Locks are missing (see plugin.ts)
 *
 * Every value is validated when read: what does not read as the current format (or as release 0.1.0's,
 * which is migrated) is unreadable, dropped and reported, and never stops the rest from being delivered.
 */
import type { Command } from '../mapping/types'

export const FORMAT = 1

/** One command waiting in the outbox. */
export interface OutboxRecord {
  version: typeof FORMAT
  /** time, tab and sequence in base 36, so that keys sort in the order the calls were made */
  key: string
  /** the tab that sends it; another tab takes it over only when this one is gone */
  owner: string
  command: Command
  /** UTF-8 bytes of the command's JSON, for the beacon and outbox bounds */
  bytes: number
  /** until when (ms) the owner's request with this record may still be running (only without Web Locks) */
  lease?: number
}

/** What an unload changed, kept in localStorage until IndexedDB confirmed it. */
export interface UnloadJournal {
  version: typeof FORMAT
  /** keys of records that left in a beacon (or were delivered): delete them */
  deleted: string[]
  /** records not yet in storage: put them */
  kept: OutboxRecord[]
}

export const RECORD_PREFIX = 'outbox:v1:'
export const JOURNAL_PART = ':journal:v1:'
export const HEARTBEAT_PART = ':tab:v1:'

/** The IndexedDB key of a record. */
export const storageKey = (key: string): string => RECORD_PREFIX + key

/** UTF-8 bytes of `text` (a lone surrogate counts as U+FFFD, 3 bytes, as TextEncoder writes it). */
export function utf8Bytes(text: string): number {
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) {
      bytes += 1
    } else if (code < 0x800) {
      bytes += 2
    } else if (isHighSurrogate(code) && isLowSurrogate(text.charCodeAt(i + 1))) {
      // a pair of UTF-16 units is one code point above U+FFFF: 4 bytes
      bytes += 4
      i++
    } else {
      bytes += 3
    }
  }
  return bytes
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff

/** A new record of `owner` for `command`. */
export function newRecord(key: string, owner: string, command: Command): OutboxRecord {
  return { version: FORMAT, key, owner, command, bytes: utf8Bytes(JSON.stringify(command)) }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value == 'object' && value !== null && !Array.isArray(value)

const isText = (value: unknown): value is string => typeof value == 'string' && value.length > 0

/** Whether `value` is a command this release can send: the shape the mapping makes (SPEC §3). */
export function isCommand(value: unknown): value is Command {
  if (!isObject(value) || !isObject(value.data)) return false
  const data = value.data
  if (value.name == 'crm/customers') return isObject(data.ids)
  if (value.name == 'crm/events') {
    return isObject(data.customer_ids) && isText(data.type) && Number.isFinite(data.timestamp) && isObject(data.properties)
  }
  return false
}

/** `value` as a record of the current format, or undefined when it is not one. */
export function readRecord(value: unknown): OutboxRecord | undefined {
  if (!isObject(value) || value.version !== FORMAT) return undefined
  if (!isText(value.key) || !isText(value.owner) || !isCommand(value.command)) return undefined
  if (value.lease !== undefined && !Number.isFinite(value.lease)) return undefined
  const record: OutboxRecord = {
    version: FORMAT,
    key: value.key,
    owner: value.owner,
    command: value.command,
    // recounted rather than trusted: the bounds depend on it
    bytes: utf8Bytes(JSON.stringify(value.command)),
  }
  if (value.lease !== undefined) record.lease = value.lease as number
  return record
}

/** A record of release 0.1.0 (`{k, o, c, n}`) as a record of the current format, or undefined. */
export function readRecord010(value: unknown): OutboxRecord | undefined {
  if (!isObject(value) || !isText(value.k) || !isText(value.o) || !isCommand(value.c)) return undefined
  return newRecord(value.k, value.o, withCompanyId(value.c))
}

/** 0.1.0 sent the token as `project_id` only; today's Bloomreach reads `company_id` (SPEC §3). */
function withCompanyId(command: Command): Command {
  const data: Record<string, unknown> = command.data
  if ('company_id' in data || typeof data.project_id != 'string') return command
  return { ...command, data: { ...data, company_id: data.project_id } } as Command
}

/** `text` parsed as JSON, or undefined when it is not JSON (JSON.parse itself never returns undefined). */
function parseJson(text: string | null): unknown {
  try {
    return JSON.parse(text ?? '')
  } catch {
    return undefined
  }
}

/** A journal of the keys and records that can be read (kept ones with `readKept`); the rest is counted. */
function journalFrom(
  deletedValues: unknown[],
  keptValues: unknown[],
  readKept: (value: unknown) => OutboxRecord | undefined,
): { journal: UnloadJournal; unreadable: number } {
  const deleted = deletedValues.filter(isText)
  const kept = keptValues.map((value) => readKept(value)).filter((record) => record !== undefined)
  const unreadable = deletedValues.length - deleted.length + keptValues.length - kept.length
  return { journal: { version: FORMAT, deleted, kept }, unreadable }
}

/** Text from localStorage as a journal: unreadable records and keys in it are left out and counted. */
export function readJournal(text: string | null): { journal?: UnloadJournal; unreadable: number } {
  const value = parseJson(text)
  if (!isObject(value) || value.version !== FORMAT || !Array.isArray(value.deleted) || !Array.isArray(value.kept)) {
    return { unreadable: 1 }
  }
  return journalFrom(value.deleted, value.kept, readRecord)
}

/** Text from localStorage as a journal of release 0.1.0 (`[[deleted keys], [kept records]]`). */
export function readJournal010(text: string | null): { journal?: UnloadJournal; unreadable: number } {
  const value = parseJson(text)
  if (!Array.isArray(value) || !Array.isArray(value[0]) || !Array.isArray(value[1])) return { unreadable: 1 }
  return journalFrom(value[0], value[1], readRecord010)
}
