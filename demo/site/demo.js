/*
 * The demo page: the shop (shop.js), the call buttons and their log (calls.js) and the live view
 * of what reaches Infinario (live.js).
 *
 * Everything it needs to know comes from the page itself: the plugin's own <script> tag
 * (data-api-url, data-project-token, data-session-timeout-ms, data-customer-ids, data-ecommerce) and
 * <body data-live-api>, the local
 * API whose control endpoints feed the live view (empty when the demo sends to a remote API).
 * The page has no inline script and builds its DOM with createElement and textContent only.
 */
import { createCalls } from './calls.js'
import { h } from './dom.js'
import { createLive } from './live.js'
import { startShop } from './shop.js'

const tag = document.querySelector('script[src$="/infinario.min.js"]')
const config = {
  target: tag?.dataset.apiUrl ?? '',
  token: tag?.dataset.projectToken ?? '',
  timeoutMs: Number(tag?.dataset.sessionTimeoutMs) || 20 * 60_000,
  customerIds: tag?.dataset.customerIds ?? '',
  ecommerce: tag?.dataset.ecommerce != null && tag?.dataset.ecommerce !== 'false',
  api: document.body.dataset.liveApi ?? '',
}
const unconfigured = [config.target, config.token, config.api, config.customerIds].some((v) => v.includes('{{'))

if (unconfigured) {
  document
    .getElementById('live')
    ?.append(h('p', { class: 'box remote-note' }, 'This page is not configured: start it with ', h('code', { text: 'npm start' }), '.'))
} else {
  let live
  const calls = createCalls(document.getElementById('calls'), {
    remote: !config.api,
    onChange: (n) => live?.setWaiting(n),
  })
  live = createLive(document.getElementById('live'), {
    ...config,
    onRequests: (requests) => calls.observe(requests),
    onCleared: () => calls.clearDone(),
  })
  live.setWaiting(calls.waiting())
  startShop()
}
