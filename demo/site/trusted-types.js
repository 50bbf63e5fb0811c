/*
 * Trusted Types: this site is served with `require-trusted-types-for 'script'` and `trusted-types default`.
 * The Segment snippet and analytics.js load their scripts by setting `script.src` to a string; this
 * default policy turns such strings into TrustedScriptURLs, for this origin's scripts only. It defines
 * no createHTML, so markup strings (innerHTML and the like) stay blocked.
 * Load it first, before the snippet.
 */
;(function () {
  if (!window.trustedTypes || !window.trustedTypes.createPolicy) return
  window.trustedTypes.createPolicy('default', {
    createScriptURL: function (url) {
      var u = new URL(url, document.baseURI)
      if (u.origin === location.origin) return u.href
      throw new TypeError('Trusted Types: scripts from ' + u.origin + ' are not allowed')
    },
  })
})()
