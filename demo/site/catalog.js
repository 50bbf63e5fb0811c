/* The shop's products. */
export const CURRENCY = 'EUR'

export const PRODUCTS = [
  {
    sku: 'FF-MUG-01',
    slug: 'mug',
    name: 'Stoneware Mug',
    category: 'Kitchen',
    price: 18,
    blurb: 'Hand-thrown, speckled clay glaze, 350 ml.',
    description:
      'Thrown on the wheel in a small studio, glazed in a warm speckled clay colour. Holds a generous 350 ml and keeps your coffee hot through the first email.',
  },
  {
    sku: 'FF-TOTE-02',
    slug: 'tote',
    name: 'Linen Tote',
    category: 'Bags',
    price: 24,
    blurb: 'Undyed European linen, long straps.',
    description: 'Heavy undyed linen with long straps and an inner pocket. Carries groceries, laptops and library books alike.',
  },
  {
    sku: 'FF-NOTE-03',
    slug: 'notebook',
    name: 'Dot-grid Notebook',
    category: 'Paper',
    price: 12,
    blurb: 'A5, 160 pages, lay-flat binding.',
    description: 'A5, 160 pages of 100 g/m² paper with a 5 mm dot grid, lay-flat binding and an elastic band.',
  },
  {
    sku: 'FF-FERN-04',
    slug: 'fern',
    name: 'Desk Fern',
    category: 'Plants',
    price: 15,
    blurb: 'Boston fern in a terracotta pot.',
    description: 'A forgiving Boston fern in a 12 cm terracotta pot. Likes indirect light and a weekly drink.',
  },
]

export const image = (p) => `/demo/img/${p.slug}.svg`

export const productUrl = (p) => `/product.html?p=${encodeURIComponent(p.slug)}`

/** Segment's ecommerce spec fields for a product. */
export const productProperties = (p, quantity = 1) => ({
  product_id: p.sku,
  sku: p.sku,
  name: p.name,
  category: p.category,
  price: p.price,
  currency: CURRENCY,
  quantity,
})

export const price = (n) => new Intl.NumberFormat('en-IE', { style: 'currency', currency: CURRENCY }).format(n)
