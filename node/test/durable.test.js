// Durable mode through Node: the same scenarios as tests/durable.rs and
// python/tests/test_durable.py.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Engine } = require('..')

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-'))

test('writes survive a reopen without save', async () => {
  const dir = tmp()
  const file = path.join(dir, 'e.embedrec')
  const e = Engine.open(file, { dim: 4, threads: 2, sync: 'grouped', syncIntervalMs: 5 })
  assert.equal(e.durable, true)
  const ids = Array.from({ length: 50 }, (_, i) => `t${i}`)
  e.upsertItems(ids, ids.map((_, i) => [1, i % 5, (i * 7) % 3, 1 + (i % 2)]), {
    tags: ids.map((_, i) => [i % 2 ? 'odd' : 'even']),
  })
  e.addInteractions(Array.from({ length: 200 }, (_, u) => u % 7), Array.from({ length: 200 }, (_, u) => `t${(u * 3) % 50}`))
  e.removeItems(['t1'])
  await e.fit('als', { factors: 4, iterations: 3 })
  e.addInteractions([99, 99], ['t4', 't6'], [2, 3])
  assert.throws(() => Engine.open(file), { code: 'IO' })
  const before = [e.size, e.stats().interactions, e.recommend(99, 5), e.search([1, 2, 0, 1], 5, { tagsAny: ['even'] })]
  e.close()
  assert.throws(() => e.addInteractions(['u'], ['t2']), { code: 'IO' })
  const back = Engine.open(file)
  assert.equal(back.model, 'als')
  assert.deepEqual([back.size, back.stats().interactions, back.recommend(99, 5), back.search([1, 2, 0, 1], 5, { tagsAny: ['even'] })], before)
  back.clearModel()
  back.close()
  const again = Engine.open(file)
  assert.equal(again.model, null)
  again.close()
  assert.throws(() => Engine.open(path.join(dir, 'missing.embedrec')), { code: 'INVALID_INPUT', message: /create/ })
  assert.throws(() => Engine.open(path.join(dir, 'x.embedrec'), { dim: 2, sync: 'sometimes' }), { code: 'INVALID_INPUT', message: /sync/ })
  fs.rmSync(dir, { recursive: true })
})

test('an open waits briefly for a lock being released', async () => {
  const dir = tmp()
  const file = path.join(dir, 'e.embedrec')
  const first = Engine.open(file, { dim: 0 })
  first.addInteractions(['u'], ['i'])
  setTimeout(() => first.close(), 100)
  const back = await Engine.openAsync(file) // waits off the main thread for the lock
  assert.equal(back.stats().interactions, 1)
  assert.throws(() => Engine.open(file), { code: 'IO' })
  back.close()
  fs.rmSync(dir, { recursive: true })
})

test('a torn journal tail loses only the torn write', () => {
  const dir = tmp()
  const file = path.join(dir, 'e.embedrec')
  const e = Engine.open(file, { dim: 0 })
  for (let k = 0; k < 3; k++) e.addInteractions([`u${k}`], ['i'])
  e.close()
  const wal = `${file}-wal`
  fs.truncateSync(wal, fs.statSync(wal).size - 3)
  const back = Engine.open(file)
  assert.equal(back.stats().users, 2)
  back.checkpoint()
  assert.equal(fs.statSync(wal).size, 48)
  back.close()
  fs.rmSync(dir, { recursive: true })
})

const WRITER = `
const { Engine } = require(${JSON.stringify(path.join(__dirname, '..'))})
const e = Engine.open(process.argv[1], { dim: 0, checkpointBytes: 4096 })
for (let k = e.stats().users; ; k++) {
  const u = 'u' + k
  e.addInteractions([u, u, u], ['i' + (k % 50), 'i' + (k % 7), 'n' + k], [1, 2, 3])
  require('node:fs').writeSync(1, k + '\\n')
}
`

test('a killed writer loses no acknowledged write', async () => {
  const dir = tmp()
  const file = path.join(dir, 'crash.embedrec')
  for (let round = 0; round < 6; round++) {
    const child = spawn(process.execPath, ['-e', WRITER, file], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    await new Promise((r) => setTimeout(r, 300 + Math.random() * 300))
    child.kill('SIGKILL')
    await new Promise((r) => child.on('close', r))
    const acked = out.split('\n').filter((x) => x.length).map(Number)
    const e = Engine.open(file, { dim: 0 })
    const s = e.stats()
    if (acked.length) assert.ok(s.users > acked[acked.length - 1])
    assert.equal(s.interactions, 3 * s.users)
    for (const k of s.users ? [0, s.users - 1] : []) assert.equal(e.recommend(`u${k}`, 1).length, 1)
    e.close()
  }
  fs.rmSync(dir, { recursive: true })
})
