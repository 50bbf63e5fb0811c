/**
 * Ecommerce (SPEC §4.2): Segment's V2 Ecommerce events as Infinario's standard ecommerce events
 * (`purchase` and its `purchase_item`s, `view_item`, `cart_update`, `checkout`, `view_category`),
 * the events Bloomreach's purchase reports, recommendations and payment validation read.
 *
 * Pure: from the call's event name and properties it derives the events to send, in order, each
 * with its properties: the mapped ones first, in the order of the SPEC's table, then the other
 * properties of the event (or product) under their own names. The caller applies the property
 * rules, the key cap, `message_id`, the context extras, the session and the size rule to each.
 *
 * Input is untrusted: it is first made a JSON-safe copy (`clean`), so nothing here throws. Numeric
 * fields take numbers and numeric strings ("19.99"); an order amount that is not a number is not
 * renamed and passes through under its Segment name, a product's price that is not a number is
 * left out, and a quantity that is not a number counts as 1.
 */
import { clean, type Warn } from './properties'
import type { Properties } from './types'

export interface Derived {
  /** the Infinario event type */
  type: string
  /** what the call's messageId gets appended for this event's message_id: '' or `:item:<n>` */
  suffix: string
  properties: Properties
}

export interface Ecommerce {
  events: Derived[]
  /** products beyond MAX_PRODUCTS: left out of the events, to be reported */
  dropped: number
}

/**
 * The most products of one event that are mapped. An order becomes one command per product, and
 * the outbox holds at most 10 000 commands: a larger order would push everything else out of it.
 */
export const MAX_PRODUCTS = 1000

const isObject = (value: unknown): value is Properties => !!value && typeof value == 'object' && !Array.isArray(value)

const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i

/** A finite number, or a numeric string as a number ("19.99" -> 19.99); undefined for anything else. */
export function toNumber(value: unknown): number | undefined {
  let n: number | undefined
  if (typeof value == 'number') n = value
  if (typeof value == 'string' && NUMERIC.test(value)) n = Number(value)
  if (n === undefined || !isFinite(n)) return undefined
  return n
}

/**
 * `n` without the binary noise of sums and products of decimals (19.99 × 3 = 59.97, not
 * 59.970000000000006): rounded to 15 significant digits, which a double holds exactly.
 */
export function tidy(n: number): number | undefined {
  if (!isFinite(n)) return undefined
  return Number(n.toPrecision(15))
}

/** An order or product id: a non-empty string, or a finite number (numbers stay numbers). */
function toId(value: unknown): string | number | undefined {
  if (typeof value == 'string' && value != '') return value
  if (typeof value == 'number' && isFinite(value)) return value
  return undefined
}

/** Any value, renamed as it is. */
const asIs = (value: unknown) => value

/**
 * Properties under construction from `source`, in insertion order; the first value of a key wins.
 * `take` renames a source property, `use` marks one as consumed; `done` adds the source's other
 * properties (a name already taken is dropped with a warning) and returns the result.
 */
function builder(source: Properties, warn?: Warn) {
  const out = new Map<string, unknown>()
  const used = new Set<string>()
  const set = (key: string, value: unknown) => {
    if (value !== undefined && !out.has(key)) out.set(key, value)
  }
  return {
    set,
    use(name: string) {
      used.add(name)
    },
    /** `key` <- the first of `from` whose value `read` accepts; that source property is consumed. */
    take<T>(key: string, from: string[], read: (v: unknown) => T | undefined): T | undefined {
      for (const name of from) {
        const value = Object.hasOwn(source, name) ? read(source[name]) : undefined
        if (value !== undefined) {
          used.add(name)
          set(key, value)
          return value
        }
      }
      return undefined
    },
    done(): Properties {
      for (const key of Object.keys(source)) {
        if (used.has(key)) continue
        if (out.has(key)) warn?.('duplicate key dropped: ' + key)
        else out.set(key, source[key])
      }
      return Object.fromEntries(out)
    },
  }
}

type Builder = ReturnType<typeof builder>

interface Product {
  fields: Properties
  /** where the id comes from: `product_id`, else `sku`, else `id`; undefined when none is an id */
  idKey?: string
  id?: string | number
  /** its quantity, 1 when it has none that is a number */
  quantity: number
}

const ID_KEYS = ['product_id', 'sku', 'id']

function product(raw: unknown, index: number, warn?: Warn): Product {
  let fields: Properties = {}
  if (isObject(raw)) fields = raw
  else warn?.(`products[${index}] is not an object: mapped as a product without properties`)
  const idKey = ID_KEYS.find((key) => Object.hasOwn(fields, key) && toId(fields[key]) !== undefined)
  let quantity = 1
  if (Object.hasOwn(fields, 'quantity')) {
    const given = toNumber(fields.quantity)
    if (given === undefined) warn?.(`products[${index}].quantity is not a number: 1 is used`)
    else quantity = given
  }
  return { fields, idKey, id: idKey === undefined ? undefined : toId(fields[idKey]), quantity }
}

/** The event's products (at most MAX_PRODUCTS) and how many were left out; `products` is consumed. */
function productsOf(properties: Properties, draft: Builder, warn?: Warn): { products: Product[]; dropped: number } {
  draft.use('products')
  if (!Object.hasOwn(properties, 'products')) return { products: [], dropped: 0 }
  const list = properties.products
  if (!Array.isArray(list)) {
    warn?.('products is not an array: ignored')
    return { products: [], dropped: 0 }
  }
  const products = list.slice(0, MAX_PRODUCTS).map((raw, index) => product(raw, index, warn))
  return { products, dropped: list.length - products.length }
}

/** `[{product_id, quantity}]`, one entry per product (a product without an id has only its quantity). */
const productList = (products: Product[]) =>
  products.map((item) => (item.id === undefined ? { quantity: item.quantity } : { product_id: item.id, quantity: item.quantity }))

/** The ids of the products that have one, in order. */
const productIds = (products: Product[]) => products.flatMap((item) => (item.id === undefined ? [] : [item.id]))

/**
 * product_id, title, sku, brand, variant, category, price: what Infinario's item events share.
 * `sku` stays under its own name even when it is the id. Returns the price, if it is a number.
 */
function describe(draft: Builder, item: Product, warn?: Warn): number | undefined {
  draft.set('product_id', item.id)
  if (item.idKey !== undefined && item.idKey != 'sku') draft.use(item.idKey)
  draft.take('title', ['name'], asIs)
  draft.take('sku', ['sku'], asIs)
  draft.take('brand', ['brand'], asIs)
  draft.take('variant', ['variant'], asIs)
  draft.take('category', ['category'], asIs)
  const price = draft.take('price', ['price'], toNumber)
  if (price === undefined && Object.hasOwn(item.fields, 'price')) {
    // a price that is not a number would give the event attribute two types in Infinario
    draft.use('price')
    warn?.('price is not a number: left out')
  }
  return price
}

/** `purchase`, then one `purchase_item` per product, in order. */
function order(status: 'success' | 'refund') {
  return (properties: Properties, warn?: Warn): Ecommerce => {
    const draft = builder(properties, warn)
    const { products, dropped } = productsOf(properties, draft, warn)
    const purchaseId = draft.take('purchase_id', ['order_id', 'checkout_id'], toId)
    draft.set('purchase_status', status)
    draft.take('total_price', ['total', 'revenue'], toNumber)
    draft.set('total_quantity', tidy(products.reduce((sum, item) => sum + item.quantity, 0)))
    draft.set('product_list', productList(products))
    draft.set('product_ids', productIds(products))
    const currency = draft.take('local_currency', ['currency'], asIs)
    draft.take('voucher_code', ['coupon'], asIs)
    draft.take('voucher_value', ['discount'], toNumber)
    draft.take('shipping_cost', ['shipping'], toNumber)
    draft.take('tax_value', ['tax'], toNumber)
    const events: Derived[] = [{ type: 'purchase', suffix: '', properties: draft.done() }]
    products.forEach((item, index) => {
      const line = builder(item.fields, warn)
      line.set('purchase_id', purchaseId)
      line.set('purchase_status', status)
      const price = describe(line, item, warn)
      line.set('quantity', item.quantity)
      line.use('quantity')
      if (price !== undefined) line.set('total_price', tidy(price * item.quantity))
      line.set('local_currency', currency)
      // without an order currency, the product's own
      line.take('local_currency', ['currency'], asIs)
      events.push({ type: 'purchase_item', suffix: ':item:' + index, properties: line.done() })
    })
    return { events, dropped }
  }
}

/** `view_item`: the event's properties are the product. */
function viewItem(properties: Properties, warn?: Warn): Ecommerce {
  const draft = builder(properties, warn)
  describe(draft, product(properties, 0, undefined), warn)
  draft.take('local_currency', ['currency'], asIs)
  return { events: [{ type: 'view_item', suffix: '', properties: draft.done() }], dropped: 0 }
}

/** `cart_update` with `action`: the product as for view_item, plus its quantity. */
function cartUpdate(action: 'add' | 'remove') {
  return (properties: Properties, warn?: Warn): Ecommerce => {
    const draft = builder(properties, warn)
    const item = product(properties, 0, undefined)
    if (Object.hasOwn(properties, 'quantity') && toNumber(properties.quantity) === undefined) warn?.('quantity is not a number: 1 is used')
    draft.set('action', action)
    describe(draft, item, warn)
    draft.take('local_currency', ['currency'], asIs)
    draft.set('quantity', item.quantity)
    draft.use('quantity')
    return { events: [{ type: 'cart_update', suffix: '', properties: draft.done() }], dropped: 0 }
  }
}

/** `checkout`, step `checkout_started`. */
function checkout(properties: Properties, warn?: Warn): Ecommerce {
  const draft = builder(properties, warn)
  const { products, dropped } = productsOf(properties, draft, warn)
  draft.set('step_title', 'checkout_started')
  draft.take('total_price', ['value', 'revenue'], toNumber)
  draft.set('product_list', productList(products))
  draft.set('product_ids', productIds(products))
  draft.take('local_currency', ['currency'], asIs)
  return { events: [{ type: 'checkout', suffix: '', properties: draft.done() }], dropped }
}

/** `view_category`: the list's id and category, and the ids of its products. */
function viewCategory(properties: Properties, warn?: Warn): Ecommerce {
  const draft = builder(properties, warn)
  const { products, dropped } = productsOf(properties, draft, warn)
  draft.take('category_id', ['list_id'], asIs)
  draft.take('category_name', ['category'], asIs)
  draft.set('product_ids', productIds(products))
  return { events: [{ type: 'view_category', suffix: '', properties: draft.done() }], dropped }
}

/** Segment's V2 Ecommerce event names and their mappings (a Map: `__proto__` and the like are not found). */
const MAPPINGS = new Map<string, (properties: Properties, warn?: Warn) => Ecommerce>([
  ['Order Completed', order('success')],
  ['Order Refunded', order('refund')],
  ['Product Viewed', viewItem],
  ['Product Added', cartUpdate('add')],
  ['Product Removed', cartUpdate('remove')],
  ['Checkout Started', checkout],
  ['Product List Viewed', viewCategory],
])

/**
 * The Infinario events for a track named `event` with `properties`; undefined when `event` is not
 * one of the V2 Ecommerce events mapped here (the track is then sent as usual).
 */
export function ecommerceEvents(event: string, properties: unknown, warn?: Warn): Ecommerce | undefined {
  const mapping = MAPPINGS.get(event)
  if (!mapping) return undefined
  const copy = clean(properties, warn)
  return mapping(isObject(copy) ? copy : {}, warn)
}
