/**
 * A static server that runs analytics-next fully offline, for the demo and the end-to-end tests.
 *
 *   /analytics.js/v1/<key>/analytics.min.js  the analytics-next standalone build (what the snippet loads)
 *   /analytics-next/bundles/<file>           its lazily loaded chunks
 *   /v1/projects/<key>/settings              CDN settings: Segment.io only, metrics off
 *   /dist/*                                  the repository's dist/ (infinario.min.js, …)
 *   /e2e/*                                   e2e/site/ (the end-to-end test pages)
 *   /demo/*, /                               demo/site/
 *
 * Nothing is cached (Cache-Control: no-store), only GET and HEAD are served, paths cannot leave
 * their directory, and `headers` (for example a Content-Security-Policy) are added to every HTML response.
 * With `vars`, each `{{NAME}}` in an HTML file is replaced by `vars.NAME`, HTML-escaped (a name not in
 * `vars` is left as it is): the demo pages get the API URL and project token this way, without inline script.
 */
import { createReadStream } from 'node:fs'
import { readFile, realpath, stat } from 'node:fs/promises'
import { createServer } from 'node:http'
import { dirname, extname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** The installed @segment/analytics-next whose standalone build is served when nothing else is asked for. */
const DEFAULT_ANALYTICS_NEXT = join(root, 'node_modules/@segment/analytics-next')

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
}

const escapeHtml = (v) => String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])

/** `rel` inside `base`, or null when it would leave it (`..`, absolute paths, NUL bytes). */
function inside(base, rel) {
  if (rel.includes('\0') || rel.includes('\\')) return null
  const file = resolve(base, './' + rel)
  return file === base || file.startsWith(base + sep) ? file : null
}

/** What a (decoded) path maps to: a file, a file inside a base directory, CDN settings or a redirect. */
function route(path, analyticsDist) {
  let m
  if (/^\/analytics\.js\/v1\/[^/]+\/analytics\.min\.js$/.test(path)) return { file: join(analyticsDist, 'standalone.js') }
  if ((m = /^\/analytics-next\/bundles\/([^/]+)$/.exec(path))) return { base: analyticsDist, rel: m[1] }
  if ((m = /^\/v1\/projects\/([^/]+)\/settings$/.exec(path))) return { settings: m[1] }
  for (const [prefix, dir] of [
    ['/dist', 'dist'],
    ['/e2e', 'e2e/site'],
    ['/demo', 'demo/site'],
  ]) {
    if (path === prefix) return { redirect: prefix + '/' }
    if (path.startsWith(prefix + '/')) return { base: join(root, dir), rel: path.slice(prefix.length + 1) }
  }
  return { base: join(root, 'demo/site'), rel: path.slice(1) }
}

/**
 * @param {import('./site.d.mts').StartSiteOptions} [options]
 * @returns {Promise<import('./site.d.mts').SiteHandle>}
 */
export async function startSite({ port = 0, host = '127.0.0.1', headers = {}, vars, analyticsNext } = {}) {
  const analyticsPackage = resolve(root, analyticsNext || process.env.ANALYTICS_NEXT_DIR || DEFAULT_ANALYTICS_NEXT)
  const analyticsDist = join(analyticsPackage, 'dist/umd')
  // fail at start, not with a 404 inside a browser test
  await stat(join(analyticsDist, 'standalone.js')).catch(() => {
    throw new Error(`startSite: no analytics-next standalone build at ${analyticsDist}/standalone.js`)
  })
  const analyticsNextVersion = JSON.parse(await readFile(join(analyticsPackage, 'package.json'), 'utf8')).version
  const base = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }
  const fail = (res, status, text) => {
    res.writeHead(status, { ...base, 'Content-Type': 'text/plain; charset=utf-8' })
    res.end(text + '\n')
  }

  async function serve(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD')
      return fail(res, 405, 'method not allowed')
    }
    let path
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    } catch {
      return fail(res, 400, 'bad path')
    }
    const r = route(path, analyticsDist)
    if (r.redirect) {
      res.writeHead(302, { ...base, Location: r.redirect })
      return res.end()
    }
    if (r.settings) {
      const body = JSON.stringify({ integrations: { 'Segment.io': { apiKey: r.settings } }, metrics: { sampleRate: 0 } })
      res.writeHead(200, { ...base, 'Content-Type': 'application/json; charset=utf-8', 'Access-Control-Allow-Origin': '*' })
      return res.end(req.method === 'HEAD' ? undefined : body)
    }
    let file = r.file ?? inside(r.base, r.rel)
    if (!file) return fail(res, 404, 'not found')
    let st
    try {
      st = await stat(file)
      if (st.isDirectory()) {
        if (!path.endsWith('/')) {
          res.writeHead(302, { ...base, Location: path + '/' })
          return res.end()
        }
        file = join(file, 'index.html')
        st = await stat(file)
      }
      // symbolic links must not lead out of the served directory either
      const real = await realpath(file)
      const realBase = r.base ? await realpath(r.base) : null
      if (realBase && !real.startsWith(realBase + sep)) return fail(res, 404, 'not found')
    } catch {
      if (path === '/favicon.ico') {
        // browsers ask for it on their own: no icon, and no 404 on the console
        res.writeHead(204, base)
        return res.end()
      }
      return fail(res, 404, 'not found')
    }
    if (!st.isFile()) return fail(res, 404, 'not found')
    const type = TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream'
    if (vars && type.startsWith('text/html')) {
      const html = (await readFile(file, 'utf8')).replace(/\{\{([A-Za-z0-9_]+)\}\}/g, (m, name) =>
        Object.hasOwn(vars, name) ? escapeHtml(vars[name]) : m,
      )
      res.writeHead(200, { ...base, 'Content-Type': type, 'Content-Length': Buffer.byteLength(html), ...headers })
      return res.end(req.method === 'HEAD' ? undefined : html)
    }
    res.writeHead(200, { ...base, 'Content-Type': type, 'Content-Length': st.size, ...(type.startsWith('text/html') ? headers : {}) })
    if (req.method === 'HEAD') return res.end()
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res)
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((e) => (res.headersSent ? res.destroy() : fail(res, 500, String(e?.message ?? e))))
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => (server.off('error', reject), resolve()))
  })
  const actual = server.address().port
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${actual}`
  let closed
  return {
    origin,
    port: actual,
    analyticsNextVersion,
    close() {
      closed ??= new Promise((done) => {
        server.close(() => done())
        server.closeAllConnections()
      })
      return closed
    },
  }
}
