/*
 * Wires the end-to-end page to a test's API, from the query string:
 *
 *   api       the tracking API base URL (the plugin's apiUrl)
 *   token     the project token (passed as given, even when empty)
 *   key       the Segment write key (read by /demo/snippet.js, the snippet the demo uses too)
 *   settings  JSON of further plugin settings
 *   mode      tag:      adds <script src="/dist/infinario.min.js" data-project-token data-api-url …>,
 *                       settings become data-* attributes (sessionTimeoutMs -> data-session-timeout-ms);
 *             register: loads /dist/infinario.min.js and calls
 *                       analytics.register(InfinarioDestination.infinarioDestination({ projectToken, apiUrl, ...settings }));
 *             none:     analytics.js without the plugin
 *   page=1    the snippet makes the standard initial analytics.page() call
 *   trace=<visit>
 *             records, in `e2e.trace` and synchronously in localStorage (`e2e-trace:<visit>:<n>`, so
 *             that the next page can read what a page did before it went away), the `key` property of
 *             the events at each step: `hook` (analytics-next called the plugin), `beacon` (handed to
 *             sendBeacon, with the event whose handler sent it) then `beacon-accepted` /
 *             `beacon-refused`, `keepalive` / `fetch` (a request to the API), `beforeunload`,
 *             `pagehide`; and at start `journal` (keys in the plugin's unload journals) and
 *             `ajs-queue` (keys in analytics-next's persisted queues). Register mode only.
 *   clockOffsetMs
 *             shifts the page's clock (Date, Date.now) by this many ms: a later visit, without
 *             waiting for the time to pass (installed before analytics.js and the plugin load)
 *
 * `window.e2e` tells the tests how far the page got: `state` is 'loading', 'ready' or 'failed: …';
 * `ready` is a promise of the same; `errors` collects what analytics emitted as 'error' (delivery
 * failures); `consoleErrors` what was written with console.error and `pageErrors` the page's
 * uncaught errors and unhandled rejections (the same in every engine, unlike a driver's console
 * events). Plugins that failed to load are in `analytics.failedInitializations`.
 */
;(function () {
  var params = new URLSearchParams(location.search)
  var mode = params.get('mode') || 'register'
  var settings = {}
  var e2e = (window.e2e = { mode: mode, state: 'loading', errors: [], consoleErrors: [], pageErrors: [] })

  var clockOffset = Number(params.get('clockOffsetMs') || 0)
  if (clockOffset) shiftClock(clockOffset)
  var visit = params.get('trace')
  if (visit !== null) traceDelivery()

  var consoleError = console.error
  console.error = function () {
    e2e.consoleErrors.push(Array.prototype.map.call(arguments, String).join(' '))
    return consoleError.apply(console, arguments)
  }
  addEventListener('error', function (event) {
    e2e.pageErrors.push(String(event.message))
  })
  addEventListener('unhandledrejection', function (event) {
    e2e.pageErrors.push(String(event.reason))
  })
  try {
    settings = JSON.parse(params.get('settings') || '{}')
  } catch (err) {
    e2e.state = 'failed: settings is not JSON: ' + err.message
    return
  }
  var analytics = window.analytics
  analytics.on('error', function (error) {
    e2e.errors.push(error)
  })

  function loadScript(attributes) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement('script')
      for (var name in attributes) script.setAttribute(name, attributes[name])
      script.onload = resolve
      script.onerror = function () {
        reject(new Error('could not load ' + attributes.src))
      }
      document.head.appendChild(script)
    })
  }

  var kebab = function (name) {
    return name.replace(/[A-Z]/g, function (c) {
      return '-' + c.toLowerCase()
    })
  }

  var plugin
  if (mode === 'tag') {
    var attributes = { src: '/dist/infinario.min.js' }
    if (params.has('token')) attributes['data-project-token'] = params.get('token')
    if (params.has('api')) attributes['data-api-url'] = params.get('api')
    for (var name in settings) {
      var value = settings[name]
      attributes['data-' + kebab(name)] = typeof value === 'string' ? value : JSON.stringify(value)
    }
    plugin = loadScript(attributes)
  } else if (mode === 'register') {
    plugin = loadScript({ src: '/dist/infinario.min.js' }).then(function () {
      var options = { projectToken: params.has('token') ? params.get('token') : undefined }
      if (params.has('api')) options.apiUrl = params.get('api')
      for (var name in settings) options[name] = settings[name]
      // through the snippet's stub before analytics.js has loaded, directly after; load errors are
      // analytics-next's to handle (initialization_failure), they must not break the page
      var destination = window.InfinarioDestination.infinarioDestination(options)
      if (visit !== null) traceHooks(destination)
      var registered = window.analytics.register(destination)
      if (registered && typeof registered.then === 'function') return registered.then(null, function () {})
    })
  } else if (mode === 'none') {
    plugin = Promise.resolve()
  } else {
    e2e.state = 'failed: unknown mode ' + mode
    return
  }

  var loaded = new Promise(function (resolve) {
    window.analytics.ready(resolve)
  })
  e2e.ready = Promise.all([plugin, loaded]).then(
    function () {
      e2e.state = 'ready'
    },
    function (err) {
      e2e.state = 'failed: ' + (err && err.message)
    },
  )

  /** Replaces Date by one whose "now" is `offset` ms later; dates made from a value stay as they are. */
  function shiftClock(offset) {
    var RealDate = Date
    function ShiftedDate() {
      if (!(this instanceof ShiftedDate)) return new RealDate(RealDate.now() + offset).toString()
      if (arguments.length === 0) return new RealDate(RealDate.now() + offset)
      var args = [null].concat(Array.prototype.slice.call(arguments))
      return new (Function.prototype.bind.apply(RealDate, args))()
    }
    // the same prototype: dates made before, or by the browser (structured clone), are instances too
    ShiftedDate.prototype = RealDate.prototype
    ShiftedDate.now = function () {
      return RealDate.now() + offset
    }
    ShiftedDate.parse = RealDate.parse
    ShiftedDate.UTC = RealDate.UTC
    window.Date = ShiftedDate
  }

  /** The `key` properties of the events in a body or stored value (whatever its format). */
  function keysIn(value) {
    var text = typeof value === 'string' ? value : JSON.stringify(value)
    var keys = []
    var pattern = /"key":"([^"]*)"/g
    var match = pattern.exec(text || '')
    while (match) {
      keys.push(match[1])
      match = pattern.exec(text)
    }
    return keys
  }

  function trace(what, keys, detail) {
    var entry = { visit: visit, what: what, keys: keys, at: Date.now(), detail: detail }
    e2e.trace.push(entry)
    try {
      localStorage.setItem('e2e-trace:' + visit + ':' + e2e.trace.length, JSON.stringify(entry))
    } catch (error) {
      // storage blocked or full: e2e.trace still has it
    }
  }

  /** Watches sendBeacon, fetch and pagehide, and notes what storage holds at start (see `trace`). */
  function traceDelivery() {
    e2e.trace = []
    // the names first: each trace adds a key, and WebKit may then enumerate the keys in another order
    var names = []
    for (var i = 0; i < localStorage.length; i++) names.push(localStorage.key(i))
    names.forEach(function (name) {
      if (/^infinario-/.test(name)) trace('journal', keysIn(localStorage.getItem(name)), name)
      if (/persisted-queue/.test(name)) trace('ajs-queue', keysIn(localStorage.getItem(name)), name)
    })
    var sendBeacon = navigator.sendBeacon.bind(navigator)
    navigator.sendBeacon = function (url, data) {
      var keys = keysIn(data)
      // the handler that sends it (beforeunload, pagehide, visibilitychange), or none (a timer)
      var handler = window.event ? window.event.type : undefined
      // before the call: Firefox may abort an unload handler inside sendBeacon, after the beacon left
      trace('beacon', keys, handler)
      var accepted = sendBeacon(url, data)
      trace(accepted ? 'beacon-accepted' : 'beacon-refused', keys, handler)
      return accepted
    }
    var fetch = window.fetch
    window.fetch = function (url, init) {
      if (init && typeof init.body === 'string') trace(init.keepalive ? 'keepalive' : 'fetch', keysIn(init.body))
      return fetch.apply(this, arguments)
    }
    addEventListener('beforeunload', function () {
      trace('beforeunload', [])
    })
    addEventListener('pagehide', function () {
      trace('pagehide', [])
    })
  }

  /** Notes each event analytics-next hands to the plugin, before the plugin sees it. */
  function traceHooks(destination) {
    ;['track', 'identify', 'page', 'screen', 'alias', 'group'].forEach(function (name) {
      var hook = destination[name]
      destination[name] = function (ctx) {
        var properties = (ctx && ctx.event && ctx.event.properties) || {}
        trace('hook', properties.key === undefined ? [] : [String(properties.key)])
        return hook.apply(this, arguments)
      }
    })
  }
})()
