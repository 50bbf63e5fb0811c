/*
 * The standard Segment analytics.js snippet (SNIPPET_VERSION 5.2.1, as published in Segment's docs),
 * non-minified and adapted for running offline from the page's own origin. The demo pages and the
 * end-to-end pages (e2e/site/) share it.
 *  - `analytics._cdn = location.origin`, and analytics.min.js is loaded from there;
 *  - the write key comes from the `key` query parameter [demo-write-key];
 *  - script.src is a string: under Trusted Types, the page's default policy turns it into a TrustedScriptURL;
 *  - `analytics.load(key, { integrations: { 'Segment.io': false } })`: nothing is sent to Segment;
 *  - the initial `analytics.page()` is made as usual, except when the script tag has
 *    `data-initial-page="query"`: then only with `?page=1` (the e2e pages: tests see only their own calls).
 * It lives in a file of its own: the pages run under `script-src 'self'` (no inline scripts).
 */
;(function () {
  var params = new URLSearchParams(location.search)
  var tag = document.currentScript
  var initialPage = !tag || tag.getAttribute('data-initial-page') !== 'query' || params.get('page') === '1'
  var writeKey = params.get('key') || 'demo-write-key'

  // the key where the global analytics object is accessible
  var globalAnalyticsKey = 'analytics'

  // Create a queue, but don't obliterate an existing one!
  var analytics = (window[globalAnalyticsKey] = window[globalAnalyticsKey] || [])

  // If the real analytics.js is already on the page return.
  if (analytics.initialize) return

  // If the snippet was invoked already show an error.
  if (analytics.invoked) {
    if (window.console && console.error) console.error('Segment snippet included twice.')
    return
  }
  analytics.invoked = true

  // The methods of analytics.js to stub.
  analytics.methods = [
    'trackSubmit',
    'trackClick',
    'trackLink',
    'trackForm',
    'pageview',
    'identify',
    'reset',
    'group',
    'track',
    'ready',
    'alias',
    'debug',
    'page',
    'screen',
    'once',
    'off',
    'on',
    'addSourceMiddleware',
    'addIntegrationMiddleware',
    'setAnonymousId',
    'addDestinationMiddleware',
    'register',
  ]

  // A stub queues its call until analytics.js has loaded and replays it; once loaded, it forwards.
  analytics.factory = function (method) {
    return function () {
      if (window[globalAnalyticsKey].initialized) {
        // a stale reference to the stub: proxy the call to the real instance
        return window[globalAnalyticsKey][method].apply(window[globalAnalyticsKey], arguments)
      }
      var args = Array.prototype.slice.call(arguments)
      // buffered page context, so page information is that of the moment of the call
      if (['track', 'screen', 'alias', 'group', 'page', 'identify'].indexOf(method) > -1) {
        var canonical = document.querySelector("link[rel='canonical']")
        args.push({
          __t: 'bpc',
          c: (canonical && canonical.getAttribute('href')) || undefined,
          p: location.pathname,
          u: location.href,
          s: location.search,
          t: document.title,
          r: document.referrer,
        })
      }
      args.unshift(method)
      analytics.push(args)
      return analytics
    }
  }
  for (var i = 0; i < analytics.methods.length; i++) {
    var key = analytics.methods[i]
    analytics[key] = analytics.factory(key)
  }

  // Loads analytics.js, once, from `analytics._cdn` (here: this page's origin).
  analytics.load = function (key, options) {
    var script = document.createElement('script')
    script.type = 'text/javascript'
    script.async = true
    script.setAttribute('data-global-segment-analytics-key', globalAnalyticsKey)
    script.src = analytics._cdn + '/analytics.js/v1/' + key + '/analytics.min.js'
    var first = document.getElementsByTagName('script')[0]
    first.parentNode.insertBefore(script, first)
    analytics._loadOptions = options
  }
  analytics._writeKey = writeKey
  analytics._cdn = location.origin
  analytics.SNIPPET_VERSION = '5.2.1'

  analytics.load(writeKey, { integrations: { 'Segment.io': false } })
  if (initialPage) analytics.page()
})()
