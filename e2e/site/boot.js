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
      var registered = window.analytics.register(window.InfinarioDestination.infinarioDestination(options))
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
})()
