// Metrics of a multi-process server (the Python suite has the same scenario in
// test_metrics.py): two worker processes write their expositions to a shared directory, one
// scrape gathers both with each family's HELP/TYPE once, and an exited worker's series go.
'use strict'
const test = require('node:test')
const assert = require('node:assert')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Engine, writeWorkerMetrics, gatherWorkerMetrics, forgetWorkerMetrics } = require('..')

const WORKER = `
const { Engine, writeWorkerMetrics } = require(${JSON.stringify(path.join(__dirname, '..'))})
const e = new Engine({ dim: 2 })
const ids = Array.from({ length: 20 }, (_, i) => 't' + i)
e.upsertItems(ids, ids.map((_, i) => [Math.cos(i), Math.sin(i)]))
for (let i = 0; i < Number(process.argv[2]); i++) e.similar('t1', 2)
writeWorkerMetrics(process.argv[1], { catalog: e })
console.log('written')
process.stdin.once('data', () => process.exit(0))
`

function worker(dir, n) {
  const child = spawn(process.execPath, ['-e', WORKER, dir, String(n)], { stdio: ['pipe', 'pipe', 'inherit'] })
  const ready = new Promise((resolve) => child.stdout.once('data', resolve))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return { child, ready, exited }
}

test('the workers of a cluster scrape as one', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-workers-'))
  const workers = [worker(dir, 3), worker(dir, 5)]
  try {
    await Promise.all(workers.map((w) => w.ready))
    const local = new Engine({ dim: 2 })
    writeWorkerMetrics(dir, { catalog: local })
    let text = gatherWorkerMetrics(dir)
    const helps = text.split('\n').filter((l) => l.startsWith('# HELP'))
    assert.equal(new Set(helps).size, helps.length)
    const count = (pid) => {
      const line = text.split('\n').find((l) => l.startsWith(`embedrec_op_duration_seconds_count{engine="catalog",pid="${pid}",op="similar"}`))
      return line && Number(line.split(' ').pop())
    }
    assert.deepStrictEqual([count(workers[0].child.pid), count(workers[1].child.pid), count(process.pid)], [3, 5, 0])
    workers[0].child.stdin.write('\n')
    await workers[0].exited
    text = gatherWorkerMetrics(dir)
    assert.ok(!text.includes(`pid="${workers[0].child.pid}"`))
    assert.ok(text.includes(`pid="${workers[1].child.pid}"`))
    forgetWorkerMetrics(dir, process.pid)
    assert.ok(!gatherWorkerMetrics(dir).includes(`pid="${process.pid}"`))
    assert.throws(() => forgetWorkerMetrics(dir, -1), { code: 'INVALID_INPUT', message: /pid/ })
    assert.throws(() => gatherWorkerMetrics(path.join(dir, 'missing')), { code: 'IO' })
    assert.throws(() => writeWorkerMetrics(dir, { catalog: {} }), { code: 'INVALID_INPUT', message: /catalog/ })
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.stdin.write('\n')
    await Promise.all(workers.map((w) => w.exited))
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
