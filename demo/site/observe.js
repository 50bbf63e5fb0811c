/*
 * Lets the demo's "Your calls" log see every analytics call of the page, the snippet's own page()
 * included: a source middleware (the analytics.js way to look at each event before the destinations
 * get it), added right after the snippet so that it is in place before analytics.js handles the
 * first call. The events wait in `window.demoEvents` until the demo (calls.js) takes them.
 */
;(function () {
  var seen = (window.demoEvents = [])
  window.analytics.addSourceMiddleware(function (m) {
    try {
      seen.push(m.payload.obj)
      if (seen.listener) seen.listener(m.payload.obj)
    } catch (e) {}
    m.next(m.payload)
  })
})()
