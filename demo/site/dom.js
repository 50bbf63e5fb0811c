/*
 * Building DOM without HTML strings: the demo runs under `require-trusted-types-for 'script'`,
 * so it never assigns markup (no innerHTML); it creates elements and sets textContent.
 */

/**
 * h('a', { class: 'x', href: '/', data: { sku: 'mug' }, onclick: fn }, 'text', child, [more])
 * `text` sets textContent; `on<event>` adds a listener; `data` fills dataset; null/false props are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue
    if (k === 'class') el.className = v
    else if (k === 'text') el.textContent = v
    else if (k === 'data') Object.assign(el.dataset, v)
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

/** Appends strings (as text), nodes and arrays of them; skips null, undefined and false. */
export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
  }
  return el
}

/** Replaces all children of `el`. */
export const fill = (el, ...children) => (el.replaceChildren(), append(el, children))

/** 14:03:21 */
export const clock = (ms) => new Date(ms).toLocaleTimeString('en-GB', { hour12: false })

/** 1.4 KB */
export const bytes = (n) => (n < 1000 ? `${n} B` : `${(n / 1000).toFixed(1)} KB`)

/** The first 8 characters of a long id, for display. */
export const short = (id) => (typeof id === 'string' && id.length > 12 ? id.slice(0, 8) + '…' : String(id ?? ''))

/** 42 s, 3 min 5 s */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds))
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`
}
