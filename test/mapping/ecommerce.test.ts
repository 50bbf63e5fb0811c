/**
 * Ecommerce (SPEC §4.2): with `ecommerce: true`, Segment's V2 Ecommerce events become Infinario's
 * standard ecommerce events. Every row of the table, the fallbacks, bad input (products that are
 * not an array, products without ids, non-numeric prices and quantities, hostile keys, 300 and
 * 1 001 products), and property-based tests for any order.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { validateCommand } from '../../demo/server/api.mjs'
import { mapEvent } from '../../src/mapping'
import { ecommerceEvents, MAX_PRODUCTS, tidy, toNumber } from '../../src/mapping/ecommerce'
import type { Command, EventCommand, SegmentEvent } from '../../src/mapping/types'
import { context, eventCommand, EXTRAS, IDS, MID, options, SECONDS, TOKEN, track } from './fixtures'

afterEach(() => {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false)
})

/** The commands of a track `event` with `properties`, ecommerce on. */
function shop(event: string, properties: unknown, o = options({ ecommerce: true })) {
  const out = mapEvent(track({ event, properties }), o) as EventCommand[]
  return { out, o, types: out.map((c) => c.data.type), props: out.map((c) => c.data.properties) }
}

const mug = {
  product_id: 'p-1',
  sku: 'MUG-1',
  name: 'Mug',
  brand: 'Fern & Co',
  variant: 'red',
  category: 'Kitchen',
  price: 19.99,
  quantity: 3,
}
const fern = { sku: 'FERN-2', name: 'Fern', price: 5, url: 'https://shop.example/fern', image_url: 'https://shop.example/fern.png' }
/** `mug` as every ecommerce event maps it: Infinario's product fields. */
const MUG_MAPPED = {
  product_id: 'p-1',
  title: 'Mug',
  sku: 'MUG-1',
  brand: 'Fern & Co',
  variant: 'red',
  category: 'Kitchen',
  price: 19.99,
}
/** product_list and product_ids of an order of three mugs and a fern. */
const MUG_AND_FERN_LISTS = {
  product_list: [
    { product_id: 'p-1', quantity: 3 },
    { product_id: 'FERN-2', quantity: 1 },
  ],
  product_ids: ['p-1', 'FERN-2'],
}
const order = () => ({
  order_id: 'o-1001',
  affiliation: 'Web shop',
  total: 64.97,
  revenue: 59.97,
  shipping: 4,
  tax: 5.5,
  discount: 2.5,
  coupon: 'SPRING',
  currency: 'EUR',
  products: [{ ...mug }, { ...fern }],
})

describe('Order Completed', () => {
  it('is one purchase, then one purchase_item per product, in order, with derived message_ids', () => {
    const { out, o } = shop('Order Completed', order())
    const event = (type: string, properties: Record<string, unknown>) => eventCommand(type, { ...EXTRAS, ...properties })
    expect(out).toEqual([
      event('purchase', {
        message_id: MID,
        purchase_id: 'o-1001',
        purchase_status: 'success',
        total_price: 64.97,
        total_quantity: 4,
        ...MUG_AND_FERN_LISTS,
        local_currency: 'EUR',
        voucher_code: 'SPRING',
        voucher_value: 2.5,
        shipping_cost: 4,
        tax_value: 5.5,
        // not mapped: passes through
        affiliation: 'Web shop',
        revenue: 59.97,
      }),
      event('purchase_item', {
        message_id: MID + ':item:0',
        purchase_id: 'o-1001',
        purchase_status: 'success',
        ...MUG_MAPPED,
        quantity: 3,
        total_price: 59.97,
        local_currency: 'EUR',
      }),
      event('purchase_item', {
        message_id: MID + ':item:1',
        purchase_id: 'o-1001',
        purchase_status: 'success',
        product_id: 'FERN-2',
        title: 'Fern',
        sku: 'FERN-2',
        price: 5,
        quantity: 1,
        total_price: 5,
        local_currency: 'EUR',
        url: 'https://shop.example/fern',
        image_url: 'https://shop.example/fern.png',
      }),
    ])
    // the product's title wins over the page title of the context extras
    expect(out[1].data.properties.title).toBe('Mug')
    // mapped names first, in the order of the table; then the other properties; then the context extras
    expect(Object.keys(out[0].data.properties).slice(0, 14)).toEqual([
      'message_id',
      'purchase_id',
      'purchase_status',
      'total_price',
      'total_quantity',
      'product_list',
      'product_ids',
      'local_currency',
      'voucher_code',
      'voucher_value',
      'shipping_cost',
      'tax_value',
      'affiliation',
      'revenue',
    ])
    const itemKeys = Object.keys(out[2].data.properties)
    expect(itemKeys.slice(itemKeys.indexOf('local_currency'), itemKeys.indexOf('location'))).toEqual(['local_currency', 'url', 'image_url'])
    expect(o.warn).not.toHaveBeenCalled()
    expect(o.drop).not.toHaveBeenCalled()
  })

  it('falls back to checkout_id and revenue; the fallback not used passes through', () => {
    const { props } = shop('Order Completed', { checkout_id: 'c-9', revenue: 10, products: [] })
    expect(props[0]).toMatchObject({ purchase_id: 'c-9', total_price: 10, total_quantity: 0, product_list: [], product_ids: [] })
    expect(props[0]).not.toHaveProperty('checkout_id')
    expect(props[0]).not.toHaveProperty('revenue')
    const both = shop('Order Completed', { order_id: 'o-1', checkout_id: 'c-9', total: 12, revenue: 10 }).props[0]
    expect(both).toMatchObject({ purchase_id: 'o-1', checkout_id: 'c-9', total_price: 12, revenue: 10 })
  })

  it('keeps numbers as numbers: a numeric order id, product ids and amounts', () => {
    const { props } = shop('Order Completed', { order_id: 1001, total: 7, products: [{ product_id: 42, price: 3.5, quantity: 2 }] })
    expect(props[0]).toMatchObject({
      purchase_id: 1001,
      total_price: 7,
      product_ids: [42],
      product_list: [{ product_id: 42, quantity: 2 }],
    })
    expect(props[1]).toMatchObject({ purchase_id: 1001, product_id: 42, price: 3.5, quantity: 2, total_price: 7 })
  })

  it('takes a product id from product_id, else sku, else id; sku also stays as sku, a used id does not', () => {
    const { props } = shop('Order Completed', {
      products: [
        { product_id: 'a', sku: 's-a', id: 'i-a' },
        { sku: 's-b', id: 'i-b' },
        { id: 'i-c' },
        { product_id: '', sku: 7 },
        { product_id: { x: 1 }, id: 'i-e' },
      ],
    })
    expect(props[0].product_ids).toEqual(['a', 's-b', 'i-c', 7, 'i-e'])
    expect(props.slice(1).map((p) => [p.product_id, p.sku, p.id])).toEqual([
      ['a', 's-a', 'i-a'],
      ['s-b', 's-b', 'i-b'],
      ['i-c', undefined, undefined],
      [7, 7, undefined],
      ['i-e', undefined, undefined],
    ])
  })

  it('derives message_ids from the fallback id when the call has no messageId', () => {
    const out = mapEvent(track({ messageId: undefined, properties: { products: [{}, {}] } }), options({ ecommerce: true, id: 'k1' }))
    expect(out.map((c) => c.data.properties.message_id)).toEqual(['k1', 'k1:item:0', 'k1:item:1'])
  })

  it('keeps derived message_ids unique and within 16 384 characters when the messageId is that long', () => {
    const long = 'm'.repeat(20000)
    const out = mapEvent(track({ messageId: long, properties: { products: Array(12).fill({}) } }), options({ ecommerce: true }))
    const ids = out.map((c) => c.data.properties.message_id as string)
    expect(new Set(ids).size).toBe(13)
    for (const id of ids) expect(id.length).toBeLessThanOrEqual(16384)
    expect(ids[12]).toBe('m'.repeat(16384 - ':item:11'.length) + ':item:11')
  })

  it('gives every derived command the call timestamp, ids, token and context extras', () => {
    const { out } = shop('Order Completed', order())
    const { title: _, ...extras } = EXTRAS
    for (const c of out) {
      expect(c.data).toMatchObject({ customer_ids: IDS, company_id: TOKEN, project_id: TOKEN, timestamp: SECONDS })
      expect(c.data.properties).toMatchObject(extras)
    }
  })

  it('applies the property rules inside products: keys with . and $, flattening, hostile keys', () => {
    const product = JSON.parse(
      '{"product_id":"p","__proto__":{"polluted":1},"constructor":"c","a.b":1,"$x":2,"dims":{"w.cm":3,"deep":{"d":4}}}',
    )
    const { props, o } = shop('Order Completed', { products: [product] })
    expect(props[1]).toMatchObject({ product_id: 'p', constructor: 'c', a_b: 1, _x: 2, dims_w_cm: 3, dims_deep: { d: 4 } })
    expect(Object.getOwnPropertyNames(props[1])).toContain('__proto___polluted')
    expect(Object.getPrototypeOf(props[1])).toBe(Object.prototype)
    expect(o.drop).not.toHaveBeenCalled()
  })

  it('maps a product whose getters throw, without its broken fields', () => {
    const boom = Object.defineProperty({ product_id: 'p', price: 2 }, 'name', {
      get() {
        throw new Error('no')
      },
      enumerable: true,
    })
    const { props } = shop('Order Completed', { products: [boom] })
    expect(props[1]).toMatchObject({ product_id: 'p', price: 2, quantity: 1, total_price: 2 })
    // the page title of the context extras: the product has none
    expect(props[1].title).toBe('Shop')
  })

  it('lets the mapped value win over a property of the same Infinario name, with a warning', () => {
    const { props, o } = shop('Order Completed', { order_id: 'o-1', purchase_id: 'mine', purchase_status: 'weird' })
    expect(props[0]).toMatchObject({ purchase_id: 'o-1', purchase_status: 'success' })
    expect(o.warn).toHaveBeenCalledWith('duplicate key dropped: purchase_id')
    expect(o.warn).toHaveBeenCalledWith('duplicate key dropped: purchase_status')
  })

  it('uses the product currency in purchase_item when the order has none', () => {
    const { props } = shop('Order Completed', { products: [{ product_id: 'p', currency: 'CZK' }] })
    expect(props[0]).not.toHaveProperty('local_currency')
    expect(props[1]).toMatchObject({ local_currency: 'CZK' })
    expect(props[1]).not.toHaveProperty('currency')
  })
})

describe('Order Completed with bad input', () => {
  it.each([
    ['an object', { product_id: 'p' }],
    ['a string', 'p-1,p-2'],
    ['a number', 3],
    ['null', null],
    ['true', true],
  ])('products that is %s: no items, empty lists, a warning; the purchase is sent', (_, products) => {
    const { types, props, o } = shop('Order Completed', { order_id: 'o', products })
    expect(types).toEqual(['purchase'])
    expect(props[0]).toMatchObject({ purchase_id: 'o', total_quantity: 0, product_list: [], product_ids: [] })
    expect(props[0]).not.toHaveProperty('products')
    expect(o.warn).toHaveBeenCalledWith('products is not an array: ignored')
    expect(o.drop).not.toHaveBeenCalled()
  })

  it('without products at all: a purchase with empty lists, no warning', () => {
    const { types, props, o } = shop('Order Completed', { order_id: 'o', total: 5 })
    expect(types).toEqual(['purchase'])
    expect(props[0]).toMatchObject({ total_quantity: 0, product_list: [], product_ids: [] })
    expect(o.warn).not.toHaveBeenCalled()
  })

  it('products without any id: still one purchase_item each, counted in the total, absent from product_ids', () => {
    const { types, props } = shop('Order Completed', {
      products: [{ name: 'A', quantity: 2 }, { product_id: 'b' }, { name: 'C', price: 1 }],
    })
    expect(types).toEqual(['purchase', 'purchase_item', 'purchase_item', 'purchase_item'])
    expect(props[0]).toMatchObject({
      total_quantity: 4,
      product_list: [{ quantity: 2 }, { product_id: 'b', quantity: 1 }, { quantity: 1 }],
      product_ids: ['b'],
    })
    expect(props[1]).not.toHaveProperty('product_id')
    expect(props[1]).toMatchObject({ title: 'A', quantity: 2 })
  })

  it('products that are not objects: an item without product fields each, quantity 1, with a warning', () => {
    const { types, props, o } = shop('Order Completed', { order_id: 'o', products: [null, 'p-1', 7, ['x'], { product_id: 'ok' }] })
    expect(types).toHaveLength(6)
    expect(props[0]).toMatchObject({ total_quantity: 5, product_ids: ['ok'] })
    expect(props[1]).toMatchObject({ purchase_id: 'o', purchase_status: 'success', quantity: 1 })
    expect(props[1]).not.toHaveProperty('product_id')
    expect(o.warn).toHaveBeenCalledWith('products[1] is not an object: mapped as a product without properties')
  })

  it('numeric strings are numbers; other quantities count as 1 (warned), other prices are left out (warned)', () => {
    const { props, o } = shop('Order Completed', {
      total: '64.97',
      tax: 'n/a',
      discount: null,
      products: [
        { product_id: 'a', price: '19.99', quantity: '3' },
        { product_id: 'b', price: 'free', quantity: 'two' },
        { product_id: 'c', price: NaN, quantity: Infinity },
        { product_id: 'd', price: { amount: 1 }, quantity: [2] },
        { product_id: 'e', price: ' 2.5 ', quantity: '' },
        { product_id: 'f', price: '1e3', quantity: -1 },
      ],
    })
    expect(props[0]).toMatchObject({ total_price: 64.97, total_quantity: 6 })
    // not numbers: not renamed, they pass through under their Segment name
    expect(props[0]).toMatchObject({ tax: 'n/a', discount: null })
    expect(props[0]).not.toHaveProperty('tax_value')
    expect(props[0]).not.toHaveProperty('voucher_value')
    expect(props.slice(1).map((p) => [p.price, p.quantity, p.total_price])).toEqual([
      [19.99, 3, 59.97],
      [undefined, 1, undefined],
      [undefined, 1, undefined],
      [undefined, 1, undefined],
      [2.5, 1, 2.5],
      [1000, -1, -1000],
    ])
    expect(o.warn).toHaveBeenCalledWith('products[1].quantity is not a number: 1 is used')
    expect(o.warn).toHaveBeenCalledWith('price is not a number: left out')
    // what is sent is JSON and valid
    for (const c of mapEvent(track({ properties: { products: [{ price: NaN }] } }), options({ ecommerce: true })))
      expect(validateCommand(JSON.parse(JSON.stringify(c)), TOKEN)).toEqual([])
  })

  it('300 products: a purchase and 300 items, each command under 800 KB and within the key cap', () => {
    const products = Array.from({ length: 300 }, (_, i) => ({
      product_id: 'p-' + i,
      sku: 'SKU-' + i,
      name: 'Product ' + i + ' ' + 'x'.repeat(200),
      price: i + 0.99,
      quantity: (i % 3) + 1,
      category: 'Cat',
    }))
    const { out, types, props, o } = shop('Order Completed', { order_id: 'big', products })
    expect(types).toEqual(['purchase', ...Array(300).fill('purchase_item')])
    expect((props[0].product_list as unknown[]).length).toBe(300)
    expect(props[0].total_quantity).toBe(products.reduce((s, p) => s + p.quantity, 0))
    expect(new Set(props.map((p) => p.message_id)).size).toBe(301)
    for (const c of out) {
      expect(new TextEncoder().encode(JSON.stringify(c)).length).toBeLessThanOrEqual(800000)
      expect(Object.keys(c.data.properties).length).toBeLessThanOrEqual(254)
      expect(validateCommand(c, TOKEN)).toEqual([])
    }
    expect(o.drop).not.toHaveBeenCalled()
  })

  it(`more than ${MAX_PRODUCTS} products: the first ${MAX_PRODUCTS} are mapped, the rest reported`, () => {
    const products = Array.from({ length: MAX_PRODUCTS + 1 }, (_, i) => ({ product_id: 'p' + i }))
    const { types, props, o } = shop('Order Completed', { products })
    expect(types).toHaveLength(MAX_PRODUCTS + 1)
    expect(props[0].total_quantity).toBe(MAX_PRODUCTS)
    expect(o.drop.mock.calls).toEqual([['too_many_products', { type: 'Order Completed', dropped: 1 }]])
  })

  it('a huge sparse products array does not hang or throw', () => {
    const products: unknown[] = []
    products.length = 1e9
    const { types, o } = shop('Order Completed', { products })
    expect(types).toHaveLength(MAX_PRODUCTS + 1)
    expect(o.drop).toHaveBeenCalledWith('too_many_products', expect.objectContaining({ type: 'Order Completed' }))
  })

  it('a purchase over 800 KB is dropped and reported; its items are still sent', () => {
    const products = Array.from({ length: 60 }, (_, i) => ({ product_id: i + 'x'.repeat(16000) }))
    const { types, o } = shop('Order Completed', { products })
    expect(types).toEqual(Array(60).fill('purchase_item'))
    expect(o.drop.mock.calls).toEqual([['too_large', { type: 'purchase' }]])
  })

  it('a product with 300 keys: mapped fields first, message_id kept, at most 254 keys, one warning', () => {
    const product = { product_id: 'p', ...Object.fromEntries(Array.from({ length: 300 }, (_, i) => ['k' + i, i])) }
    const { props, o } = shop('Order Completed', { products: [product] })
    const keys = Object.keys(props[1])
    expect(keys).toHaveLength(254)
    expect(keys.slice(0, 5)).toEqual(['message_id', 'purchase_status', 'product_id', 'quantity', 'k0'])
    expect(o.warn).toHaveBeenCalledWith(expect.stringMatching(/properties dropped: over 255 keys/))
  })

  it('properties that are not an object: a purchase without anything but its status', () => {
    for (const properties of [undefined, null, 'x', 5, ['a']]) {
      const { types, props } = shop('Order Completed', properties)
      expect(types).toEqual(['purchase'])
      expect(props[0]).toMatchObject({ purchase_status: 'success', total_quantity: 0 })
    }
  })
})

describe('Order Refunded', () => {
  it('is the same as Order Completed with purchase_status "refund"', () => {
    const { types, props } = shop('Order Refunded', order())
    expect(types).toEqual(['purchase', 'purchase_item', 'purchase_item'])
    for (const p of props) expect(p.purchase_status).toBe('refund')
    const completed = shop('Order Completed', order()).props
    expect(props.map((p) => ({ ...p, purchase_status: 'success' }))).toEqual(completed)
  })
})

describe('Product Viewed', () => {
  it('is view_item with the product fields, local_currency and the other properties', () => {
    const { out, o } = shop('Product Viewed', { ...mug, currency: 'EUR', position: 3, url: 'https://shop.example/mug' })
    expect(out).toHaveLength(1)
    expect(out[0].data.type).toBe('view_item')
    expect(out[0].data.properties).toEqual({
      ...EXTRAS,
      message_id: MID,
      ...MUG_MAPPED,
      local_currency: 'EUR',
      quantity: 3,
      position: 3,
      url: 'https://shop.example/mug',
    })
    expect(Object.keys(out[0].data.properties).slice(0, 9)).toEqual([
      'message_id',
      'product_id',
      'title',
      'sku',
      'brand',
      'variant',
      'category',
      'price',
      'local_currency',
    ])
    expect(o.warn).not.toHaveBeenCalled()
  })

  it('without any id or price: no product_id, no price', () => {
    const { props } = shop('Product Viewed', { name: 'Mystery', price: 'call us' })
    expect(props[0]).toMatchObject({ title: 'Mystery' })
    expect(props[0]).not.toHaveProperty('product_id')
    expect(props[0]).not.toHaveProperty('price')
  })
})

describe('Product Added / Product Removed', () => {
  it.each([
    ['Product Added', 'add'],
    ['Product Removed', 'remove'],
  ])('%s is cart_update with action "%s", the product fields and quantity', (event, action) => {
    const { out } = shop(event, { cart_id: 'cart-7', ...mug, currency: 'EUR' })
    expect(out).toHaveLength(1)
    expect(out[0].data.type).toBe('cart_update')
    expect(out[0].data.properties).toEqual({
      ...EXTRAS,
      message_id: MID,
      action,
      ...MUG_MAPPED,
      local_currency: 'EUR',
      quantity: 3,
      cart_id: 'cart-7',
    })
  })

  it('quantity defaults to 1; one that is not a number counts as 1, with a warning', () => {
    expect(shop('Product Added', { product_id: 'p' }).props[0].quantity).toBe(1)
    const bad = shop('Product Removed', { product_id: 'p', quantity: 'lots' })
    expect(bad.props[0].quantity).toBe(1)
    expect(bad.o.warn).toHaveBeenCalledWith('quantity is not a number: 1 is used')
  })
})

describe('Checkout Started', () => {
  it('is checkout with step_title, total_price from value, product_list, product_ids, local_currency', () => {
    const { out } = shop('Checkout Started', {
      order_id: 'o-1',
      value: 30,
      revenue: 25,
      currency: 'EUR',
      products: [{ ...mug }, { ...fern }],
    })
    expect(out).toHaveLength(1)
    expect(out[0].data.type).toBe('checkout')
    expect(out[0].data.properties).toEqual({
      message_id: MID,
      step_title: 'checkout_started',
      total_price: 30,
      ...MUG_AND_FERN_LISTS,
      local_currency: 'EUR',
      order_id: 'o-1',
      revenue: 25,
      ...EXTRAS,
    })
  })

  it('falls back to revenue', () => {
    expect(shop('Checkout Started', { revenue: 25 }).props[0]).toMatchObject({ total_price: 25, product_list: [], product_ids: [] })
  })
})

describe('Product List Viewed', () => {
  it('is view_category with category_id, category_name and product_ids', () => {
    const { out } = shop('Product List Viewed', { list_id: 'plants', category: 'Plants', products: [{ ...fern }, { product_id: 'p-9' }] })
    expect(out).toHaveLength(1)
    expect(out[0].data.type).toBe('view_category')
    expect(out[0].data.properties).toEqual({
      message_id: MID,
      category_id: 'plants',
      category_name: 'Plants',
      product_ids: ['FERN-2', 'p-9'],
      ...EXTRAS,
    })
  })
})

describe('when ecommerce does not apply', () => {
  it('is off by default: Order Completed is a track like any other', () => {
    const out = mapEvent(track({ properties: order() }), options())
    expect(out).toHaveLength(1)
    expect((out[0] as EventCommand).data.type).toBe('Order Completed')
    expect(out[0].data.properties.products).toEqual(order().products)
  })

  it('an event named in eventNames is only renamed: the user mapping wins', () => {
    const out = mapEvent(track({ properties: order() }), options({ ecommerce: true, eventNames: { 'Order Completed': 'order' } }))
    expect(out).toHaveLength(1)
    expect((out[0] as EventCommand).data.type).toBe('order')
    expect(out[0].data.properties).toMatchObject({ order_id: 'o-1001', total: 64.97 })
  })

  it('other events, other casing and inherited names are tracks as usual', () => {
    for (const event of ['Cart Viewed', 'order completed', 'ORDER COMPLETED', '__proto__', 'constructor', 'toString']) {
      const out = mapEvent(track({ event, properties: order() }), options({ ecommerce: true }))
      expect(out.map((c) => (c as EventCommand).data.type)).toEqual([event])
    }
    expect(ecommerceEvents('hasOwnProperty', {})).toBeUndefined()
  })

  it('page, screen and identify are unchanged', () => {
    const page = mapEvent({ ...track(), type: 'page', name: 'Order Completed' } as SegmentEvent, options({ ecommerce: true }))
    expect((page[0] as EventCommand).data.type).toBe('page_visit')
  })
})

describe('toNumber and tidy', () => {
  it.each<[unknown, number | undefined]>([
    [3, 3],
    [-1.5, -1.5],
    ['19.99', 19.99],
    [' 7 ', 7],
    ['+2', 2],
    ['.5', 0.5],
    ['1e3', 1000],
    ['', undefined],
    [' ', undefined],
    ['0x10', undefined],
    ['1,5', undefined],
    ['Infinity', undefined],
    ['1e999', undefined],
    [NaN, undefined],
    [Infinity, undefined],
    [null, undefined],
    [true, undefined],
    [[2], undefined],
    [{ valueOf: () => 2 }, undefined],
  ])('toNumber(%j) = %j', (v, n) => expect(toNumber(v)).toBe(n))

  it('tidy removes binary noise and refuses what is not finite', () => {
    expect(1.1 * 3).not.toBe(3.3)
    expect(tidy(1.1 * 3)).toBe(3.3)
    expect(tidy(19.99 * 3)).toBe(59.97)
    expect(tidy(0.1 + 0.2)).toBe(0.3)
    expect(tidy(1e300 * 1e300)).toBeUndefined()
    expect(tidy(123456789)).toBe(123456789)
  })
})

// ---------------------------------------------------------------------------------------------
// property-based

const RUNS = { numRuns: Number(process.env.FUZZ_RUNS) || 200 }

const hostileKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'a.b',
  '$x',
  'toString',
  'quantity',
  'price',
  'product_id',
  '0',
  '',
)
const scalar = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.integer(),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }),
  fc.constantFrom(null, undefined, NaN, Infinity, -Infinity, true, '', ' 2 ', '1e3', 'abc', '-0', 5n),
)
const idValue = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.constantFrom('', null, NaN, { id: 1 }, ['x'], true))
const quantity = fc.oneof(
  fc.integer({ min: -5, max: 100 }),
  fc.double({ min: -1e4, max: 1e4, noNaN: true }),
  fc.integer({ min: 0, max: 50 }).map(String),
  fc.constantFrom(NaN, Infinity, '', 'two', null, undefined, {}, [1], '1e999', ' 3 '),
)
const product = fc.oneof(
  fc
    .record(
      {
        product_id: idValue,
        sku: idValue,
        id: idValue,
        name: scalar,
        price: fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), scalar),
        quantity,
        extra: fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 5 })), scalar, { maxKeys: 5 }),
      },
      { requiredKeys: [] },
    )
    // hostile keys beside the known ones, at the top level of the product
    .map(({ extra, ...known }) => ({ ...extra, ...known })),
  fc.constantFrom(null, 'p', 7, [], true),
)
const products = fc.array(product, { maxLength: 40 })

/** SPEC §4.2's quantity rule, written independently: a finite number, a numeric string, else 1. */
function quantityOf(p: unknown): number {
  if (!p || typeof p != 'object' || Array.isArray(p) || !Object.hasOwn(p, 'quantity')) return 1
  const q = (p as { quantity: unknown }).quantity
  if (typeof q == 'number' && Number.isFinite(q)) return q
  // the property rules make a BigInt its decimal string
  if (typeof q == 'bigint') return Number.isFinite(Number(q)) ? Number(q) : 1
  if (typeof q == 'string' && q.trim() != '' && /^[\s+-]*[\d.]+(e[-+]?\d+)?\s*$/i.test(q) && Number.isFinite(Number(q))) return Number(q)
  return 1
}

function assertValid(out: Command[]) {
  for (const c of out) {
    const wire = JSON.parse(JSON.stringify(c))
    expect(wire).toEqual(c)
    expect(validateCommand(wire, TOKEN)).toEqual([])
    expect(Object.keys(c.data.properties).length).toBeLessThanOrEqual(254)
  }
}

// property runs are CPU-bound: on a busy machine they may take longer than vitest's 5 s default
describe('property-based: any order', { timeout: 120_000 }, () => {
  it('one purchase_item per product, total_quantity = the quantity sum, unique message_ids, valid commands, no throw', () => {
    fc.assert(
      fc.property(
        products,
        fc.constantFrom('Order Completed', 'Order Refunded'),
        fc.option(fc.string({ minLength: 1, maxLength: 30 }), { nil: undefined }),
        (list, event, messageId) => {
          const o = options({ ecommerce: true })
          const out = mapEvent(track({ event, messageId, properties: { order_id: 'o', total: 1, products: list } }), o) as EventCommand[]
          expect(out.map((c) => c.data.type)).toEqual(['purchase', ...list.map(() => 'purchase_item')])
          const sum = list.reduce((s: number, p) => s + quantityOf(p), 0)
          // relative: quantities up to 1e9 summed in another order differ in the last bits
          const total = out[0].data.properties.total_quantity as number
          expect(Math.abs(total - sum)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(sum)))
          expect((out[0].data.properties.product_list as unknown[]).length).toBe(list.length)
          const ids = out.map((c) => c.data.properties.message_id)
          expect(new Set(ids).size).toBe(ids.length)
          out.slice(1).forEach((c, n) => expect(c.data.properties.message_id).toBe((messageId || 'fallback-id') + ':item:' + n))
          assertValid(out)
          expect(o.drop).not.toHaveBeenCalled()
        },
      ),
      RUNS,
    )
  })

  it('any V2 Ecommerce event with any properties: never throws, every command valid, the same ids and timestamp', () => {
    const event = fc.constantFrom(
      'Order Completed',
      'Order Refunded',
      'Product Viewed',
      'Product Added',
      'Product Removed',
      'Checkout Started',
      'Product List Viewed',
    )
    const properties = fc.oneof(
      fc.dictionary(fc.oneof(hostileKey, fc.string({ maxLength: 6 })), fc.oneof(scalar, products, product), { maxKeys: 12 }),
      fc.record({ products, order_id: idValue, total: scalar, currency: scalar, list_id: scalar, value: scalar }, { requiredKeys: [] }),
      fc.anything(),
    )
    fc.assert(
      fc.property(event, properties, (name, props) => {
        const o = options({ ecommerce: true })
        const out = mapEvent({ ...track(), event: name, properties: props, context: context() }, o) as EventCommand[]
        expect(out.length).toBeGreaterThan(0)
        for (const c of out) expect(c.data).toMatchObject({ customer_ids: IDS, timestamp: SECONDS })
        assertValid(out)
        for (const call of o.warn.mock.calls) expect(typeof call[0]).toBe('string')
      }),
      RUNS,
    )
  })
})
