/*
 * The shop: the product list and the product page, instrumented the way a shop instruments itself
 * with analytics.js (Segment's ecommerce events). The snippet already made the `page` call.
 */
import { PRODUCTS, CURRENCY, image, price, productProperties, productUrl } from './catalog.js'
import { fill, h } from './dom.js'

const CART = 'demo.cart'

/** The SKUs in the cart, one per item added. */
function cartItems() {
  try {
    const items = JSON.parse(localStorage.getItem(CART) || '[]')
    return Array.isArray(items) ? items : []
  } catch {
    return []
  }
}

const cartCount = () => cartItems().length

/** The order of `p` plus what is in the cart: one product each, with its quantity. */
function orderProducts(p) {
  const quantities = new Map()
  for (const sku of [...cartItems(), p.sku]) quantities.set(sku, (quantities.get(sku) ?? 0) + 1)
  const products = []
  for (const [sku, quantity] of quantities) {
    const product = PRODUCTS.find((x) => x.sku === sku)
    if (product) products.push(productProperties(product, quantity))
  }
  return products
}

/** Checkout Started, then Order Completed for `p` and the cart (the plugin maps them to checkout, purchase and purchase_item); empties the cart. */
function buy(p) {
  const products = orderProducts(p)
  const total = Math.round(products.reduce((sum, x) => sum + x.price * x.quantity, 0) * 100) / 100
  analytics.track('Checkout Started', { value: total, revenue: total, currency: CURRENCY, products })
  analytics.track('Order Completed', {
    order_id: `FF-${Date.now().toString(36).toUpperCase()}`,
    total,
    revenue: total,
    currency: CURRENCY,
    products,
  })
  localStorage.removeItem(CART)
  showCart()
}

function addToCart(p) {
  let items = []
  try {
    items = JSON.parse(localStorage.getItem(CART) || '[]')
  } catch {}
  items.push(p.sku)
  localStorage.setItem(CART, JSON.stringify(items))
  showCart()
}

function showCart() {
  const el = document.getElementById('cart')
  if (el) fill(el, 'Cart ', h('b', { text: String(cartCount()) }))
}

/** Briefly shows `text` on a button, then its label again. */
function flash(button, text) {
  const label = button.dataset.label || (button.dataset.label = button.textContent)
  button.textContent = text
  button.classList.add('done')
  clearTimeout(button._t)
  button._t = setTimeout(() => {
    button.textContent = label
    button.classList.remove('done')
  }, 1400)
}

function added(p, button, done = 'Added ✓') {
  analytics.track('Product Added', productProperties(p))
  addToCart(p)
  flash(button, done)
}

function catalog(list) {
  fill(
    list,
    PRODUCTS.map((p) =>
      h(
        'li',
        { class: 'card' },
        h(
          'a',
          { class: 'card-link', href: productUrl(p), data: { sku: p.sku } },
          h('img', { src: image(p), alt: '', width: 400, height: 300, loading: 'lazy' }),
          h('span', { class: 'card-name', text: p.name }),
        ),
        h('span', { class: 'card-blurb', text: p.blurb }),
        h(
          'span',
          { class: 'card-foot' },
          h('span', { class: 'price', text: price(p.price) }),
          h(
            'button',
            {
              type: 'button',
              class: 'btn btn-small',
              'aria-label': `Add ${p.name} to cart`,
              onclick: (e) => added(p, e.currentTarget, '✓'),
            },
            'Add',
          ),
        ),
      ),
    ),
  )
  // trackLink: the click is tracked before the browser leaves the page (it waits for the call, at most 500 ms)
  for (const a of list.querySelectorAll('.card-link'))
    analytics.trackLink(a, 'Product Clicked', productProperties(PRODUCTS.find((p) => p.sku === a.dataset.sku)))
  analytics.track('Product List Viewed', {
    list_id: 'spring',
    category: 'Spring collection',
    products: PRODUCTS.map((p) => productProperties(p)),
  })
}

function productPage(el) {
  const slug = new URLSearchParams(location.search).get('p')
  const p = PRODUCTS.find((x) => x.slug === slug) ?? PRODUCTS[0]
  document.title = `${p.name} · Fern & Fig · Infinario destination demo`
  let orders = 0
  fill(
    el,
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '/' }, 'Shop'), ' / ', h('span', { text: p.category })),
    h(
      'div',
      { class: 'product-body' },
      h('img', { src: image(p), alt: p.name, width: 400, height: 300 }),
      h(
        'div',
        { class: 'product-info' },
        h('h1', { text: p.name }),
        h('p', { class: 'price price-big', text: price(p.price) }),
        h('p', { class: 'product-text', text: p.description }),
        h(
          'div',
          { class: 'product-actions' },
          h('button', { type: 'button', class: 'btn', onclick: (e) => added(p, e.currentTarget) }, 'Add to cart'),
          h(
            'button',
            {
              type: 'button',
              class: 'btn btn-ghost',
              onclick: (e) => {
                orders++
                buy(p)
                flash(e.currentTarget, orders > 1 ? `Ordered ×${orders} ✓` : 'Ordered ✓')
              },
            },
            'Buy now',
          ),
        ),
        h('p', {
          class: 'hint',
          text: 'Add to cart sends "Product Added" (cart_update in Infinario); Buy now orders this product and the cart: "Checkout Started", then "Order Completed" (purchase, and one purchase_item per product).',
        }),
      ),
    ),
  )
  analytics.track('Product Viewed', productProperties(p))
}

export function startShop() {
  showCart()
  const list = document.getElementById('products')
  if (list) catalog(list)
  const product = document.getElementById('product')
  if (product) productPage(product)
}
