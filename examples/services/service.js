// A recommendation service: Node's http module with /recommend, /similar and /metrics over
// one saved engine, opened read-only in each cluster worker.
//
//   EMBEDREC_PATH=/srv/catalog.embedrec WORKERS=4 PORT=8000 node service.js
//
// Every worker maps the same file (its pages are shared, not copied). To publish a new
// snapshot, save it to the same path: each worker sees it on its next request
// (snapshotReplaced) and reopens. /metrics labels every sample with the worker's pid; with
// EMBEDREC_METRICS_DIR (a directory the workers share, emptied at start) every worker writes
// its metrics there every few seconds and the worker that answers a scrape returns all
// workers' series (gatherWorkerMetrics); without it, the answering worker's own series.
// Without EMBEDREC_PATH a small synthetic catalog is built first (a demo that needs no data).
'use strict'
const cluster = require('node:cluster')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')
const { Engine, gatherWorkerMetrics, metricsText, writeWorkerMetrics } = require('embedrec')

async function demoCatalog () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-service-'))
  const file = path.join(dir, 'catalog.embedrec')
  const engine = new Engine({ dim: 16 })
  const ids = Array.from({ length: 2000 }, (_, i) => `song${i}`)
  const vectors = ids.map((_, i) => Array.from({ length: 16 }, (_, d) => Math.sin((i % 8) * 3 + d) + 0.3 * Math.cos(i * 7 + d)))
  engine.upsertItems(ids, vectors, { tags: ids.map((_, i) => [`genre${i % 8}`]) })
  const users = Array.from({ length: 6000 }, (_, i) => i % 300)
  await engine.addInteractionsAsync(users, users.map((u, i) => `song${((i * 37) % 250) * 8 + (u % 8)}`))
  await engine.fit('als', { factors: 16, iterations: 5 })
  await engine.save(file)
  return file
}

function serve (file, port) {
  // One engine thread per worker: the workers are the parallelism.
  const open = () => {
    const e = Engine.open(file, { readOnly: true })
    e.setThreads(1)
    return e
  }
  let engine = open()
  const current = () => {
    if (engine.snapshotReplaced()) engine = open()
    return engine
  }
  const metricsDir = process.env.EMBEDREC_METRICS_DIR
  const metrics = () => {
    if (!metricsDir) return metricsText({ catalog: current() }, { pid: true })
    writeWorkerMetrics(metricsDir, { catalog: current() })
    return gatherWorkerMetrics(metricsDir)
  }
  if (metricsDir) {
    writeWorkerMetrics(metricsDir, { catalog: engine })
    setInterval(() => writeWorkerMetrics(metricsDir, { catalog: current() }), 5000).unref()
  }
  const id = (raw) => (/^-?\d+$/.test(raw) ? Number(raw) : decodeURIComponent(raw))
  const send = (res, status, body, type = 'application/json') => {
    res.writeHead(status, { 'content-type': type })
    res.end(type === 'application/json' ? JSON.stringify(body) : body)
  }
  http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost')
    const [, route, key] = url.pathname.split('/')
    const k = Number(url.searchParams.get('k') ?? 10)
    try {
      if (route === 'recommend' && key) {
        const genre = url.searchParams.get('genre')
        const options = { withMetadata: true, ...(genre ? { filter: { tagsAny: [genre] } } : {}) }
        const items = current().recommend(id(key), k, options)
        return send(res, 200, { userId: id(key), items })
      }
      if (route === 'similar' && key) return send(res, 200, { itemId: id(key), items: current().similar(id(key), k) })
      if (route === 'metrics') return send(res, 200, metrics(), 'text/plain; version=0.0.4')
      return send(res, 404, { error: 'not found' })
    } catch (e) {
      const status = e.code === 'UNKNOWN_USER' || e.code === 'UNKNOWN_ITEM' ? 404 : e.code === 'INVALID_INPUT' ? 400 : 500
      return send(res, status, { error: e.message, code: e.code })
    }
  }).listen(port, '127.0.0.1')
}

async function main () {
  const port = Number(process.env.PORT ?? 8000)
  const workers = Number(process.env.WORKERS ?? 1)
  if (cluster.isPrimary) {
    process.env.EMBEDREC_PATH = process.env.EMBEDREC_PATH || (await demoCatalog())
    if (workers <= 1) return serve(process.env.EMBEDREC_PATH, port)
    for (let i = 0; i < workers; i++) cluster.fork()
  } else {
    serve(process.env.EMBEDREC_PATH, port)
  }
}

main()
