/*
 * The live view when the demo sends to a remote API (INFINARIO_API_URL): the page cannot see what
 * the API received, so it lists the requests it made to it (Resource Timing), without their contents.
 */
import { bytes, clock, fill, h, short } from './dom.js'

/** Remote mode: the plugin sends to a real API; list the requests the page made to it. */
export function createRemoteView(root, { target, token }) {
  const list = h('ol', { class: 'feed', id: 'feed' })
  const empty = h('p', { class: 'empty', text: 'No request yet (the plugin sends at most every second).' })
  fill(
    root,
    h(
      'header',
      { class: 'live-head' },
      h('div', null, h('h2', { text: 'What goes to Infinario' }), h('span', { class: 'conn', data: { state: 'remote' }, text: 'remote' })),
    ),
    h(
      'p',
      { class: 'live-sub' },
      'Sending to ',
      h('code', { text: target }),
      ' · project token ',
      h('code', { text: short(token), title: token }),
    ),
    h(
      'p',
      { class: 'box remote-note' },
      'The demo was started with INFINARIO_API_URL and INFINARIO_PROJECT_TOKEN: events go to that API. This panel lists the requests this page made to it; their contents are in your Infinario project. Start the demo without those variables for the local API, its live view and the fault switches.',
    ),
    h('div', { class: 'box-head feed-head' }, h('h3', { text: 'Bulk requests from this page' })),
    empty,
    list,
  )
  const bulk = target.replace(/\/+$/, '') + '/bulk'
  let n = 0
  const show = (e) => {
    if (e.name !== bulk) return
    n++
    empty.hidden = true
    const status = e.responseStatus
    list.prepend(
      h(
        'li',
        { class: 'req' },
        h(
          'div',
          { class: 'req-head' },
          h('span', {
            class: `http ${status >= 200 && status < 300 ? 'h-ok' : status ? 'h-fail' : 'h-down'}`,
            text: status ? `HTTP ${status}` : 'sent',
          }),
          h('span', { class: 'req-title', text: `POST /bulk #${n}` }),
          h('span', {
            class: 'req-meta',
            text: `${Math.round(e.duration)} ms${e.encodedBodySize ? ' · ' + bytes(e.encodedBodySize) + ' answer' : ''}`,
          }),
          h('time', { text: clock(performance.timeOrigin + e.startTime) }),
        ),
      ),
    )
  }
  try {
    performance.getEntriesByType('resource').forEach(show)
    new PerformanceObserver((l) => l.getEntries().forEach(show)).observe({ type: 'resource' })
  } catch {}
  return { setWaiting() {} }
}
