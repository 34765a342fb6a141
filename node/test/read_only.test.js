// Read-only engines through Node: the same scenarios as tests/read_only.rs and
// python/tests/test_read_only.py.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Engine } = require('..')

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-'))

async function build (file) {
  const e = new Engine({ dim: 4, metric: 'cosine', threads: 2 })
  const ids = Array.from({ length: 300 }, (_, i) => `t${i}`)
  e.upsertItems(ids, ids.map((_, i) => [1 + (i % 3), i % 5, (i * 7) % 3, 1 + (i % 2)]), {
    tags: ids.map((_, i) => [i % 2 ? 'odd' : 'even']),
  })
  e.removeItems(['t5'])
  e.addInteractions(Array.from({ length: 600 }, (_, u) => u % 30), Array.from({ length: 600 }, (_, u) => (u % 9 ? `t${(u * 7) % 300}` : `x${u % 11}`)))
  await e.fit('als', { factors: 4, iterations: 3 })
  await e.save(file)
  return e
}

const answers = (e) => [
  e.size,
  e.search([1, 2, 0, 1], 10),
  e.search([1, 2, 0, 1], 10, { tagsAny: ['even'] }),
  e.similar('t7', 5),
  e.recommend(3, 5),
  Array.from(e.itemVector('t9')),
]

test('a read-only engine answers as a loaded one and refuses writes', async () => {
  const dir = tmp()
  const file = path.join(dir, 'e.embedrec')
  await build(file)
  const loaded = Engine.loadSync(file)
  const ro = Engine.open(file, { readOnly: true })
  assert.equal(ro.readOnly, true)
  assert.equal(ro.durable, false)
  assert.equal(loaded.readOnly, false)
  assert.deepEqual(answers(ro), answers(loaded))
  assert.equal(ro.stats().mappedBytes, fs.statSync(file).size)
  ro.verify()
  const writes = [
    () => ro.upsertItems(['n'], [[1, 2, 3, 4]]),
    () => ro.removeItems(['t1']),
    () => ro.addInteractions([1], ['t1']),
    () => ro.clearModel(),
  ]
  for (const write of writes) assert.throws(write, { code: 'READ_ONLY' })
  await assert.rejects(ro.fit('popularity'), { code: 'READ_ONLY' })
  assert.deepEqual(answers(ro), answers(loaded))
  assert.throws(() => Engine.open(file, { readOnly: true, sync: 'off' }), { code: 'INVALID_INPUT', message: /sync/ })
  assert.throws(() => Engine.open(file, { readOnly: true, dim: 3 }), { code: 'INVALID_INPUT', message: /dim/ })
  fs.rmSync(dir, { recursive: true })
})

test('openAsync opens off the main thread and rejects as open throws', async () => {
  const dir = tmp()
  const file = path.join(dir, 'e.embedrec')
  const built = await build(file)
  const ro = await Engine.openAsync(file, { readOnly: true })
  assert.equal(ro.readOnly, true)
  assert.deepEqual(answers(ro), answers(built))
  const durable = await Engine.openAsync(path.join(dir, 'd.embedrec'), { dim: 4, sync: 'grouped' })
  assert.equal(durable.durable, true)
  durable.upsertItems(['a'], [[1, 0, 0, 0]])
  // A read-only open sees the last checkpoint, not the journal.
  assert.equal(Engine.open(path.join(dir, 'd.embedrec'), { readOnly: true }).size, 0)
  durable.checkpoint()
  durable.close()
  assert.equal((await Engine.openAsync(path.join(dir, 'd.embedrec'), { readOnly: true })).size, 1)
  await assert.rejects(Engine.openAsync(file, { readOnly: true, sync: 'off' }), { code: 'INVALID_INPUT', message: /sync/ })
  await assert.rejects(Engine.openAsync(path.join(dir, 'missing', 'x.embedrec'), { readOnly: true }), { code: 'IO' })
  fs.rmSync(dir, { recursive: true })
})

test('the factor graphs are stored with the model', async () => {
  const dir = tmp()
  const file = path.join(dir, 'm.embedrec')
  // Large enough for both factor graphs (inner product from 8 x exactBelow live items).
  const e = new Engine({ dim: 4, exactBelow: 50, efSearch: 10, threads: 2 })
  const ids = Array.from({ length: 3000 }, (_, i) => `t${i}`)
  e.upsertItems(ids, ids.map((_, i) => [Math.sin(i), Math.cos(i * 3), (i % 7) - 3, 1 + (i % 5)]))
  const n = 9000
  e.addInteractions(Array.from({ length: n }, (_, j) => (j * 7919) % 300), Array.from({ length: n }, (_, j) => `t${(j * 104729) % 3000}`))
  await e.fit('als', { factors: 8, iterations: 3 })
  await e.save(file)
  const answers = (x) => [
    ...Array.from({ length: 100 }, (_, u) => x.recommend(u, 10)),
    ...Array.from({ length: 100 }, (_, i) => x.similar(`t${i * 30}`, 10)),
  ]
  // At a small breadth two builds of a graph disagree: equal answers mean the saved graphs
  // are the ones walked.
  const want = answers(e)
  assert.deepEqual(answers(Engine.loadSync(file)), want)
  assert.deepEqual(answers(Engine.open(file, { readOnly: true })), want)
  fs.rmSync(dir, { recursive: true })
})

test('a buffer is served in place, read-only', async () => {
  const dir = tmp()
  const e = await build(path.join(dir, 'e.embedrec'))
  const data = e.toBytes()
  const ro = Engine.fromBytes(data, { readOnly: true })
  assert.equal(ro.readOnly, true)
  assert.equal(ro.snapshot(), null)
  assert.equal(ro.stats().mappedBytes, data.length)
  assert.deepEqual(answers(ro), answers(e))
  ro.verify()
  assert.throws(() => ro.removeItems(['t1']), { code: 'READ_ONLY', message: /<bytes>/ })
  assert.equal(Engine.fromBytes(data).readOnly, false)
  const bad = Buffer.from(data)
  bad[0] ^= 1
  assert.throws(() => Engine.fromBytes(bad, { readOnly: true }), { code: 'CORRUPT' })
  assert.throws(() => Engine.fromBytes(data, { readOnly: 'yes' }), { code: 'INVALID_INPUT', message: /readOnly/ })
  assert.throws(() => Engine.fromBytes(data, { sync: 'off' }), { code: 'INVALID_INPUT', message: /sync/ })
  fs.rmSync(dir, { recursive: true })
})

test('openers share one snapshot identity; a replaced file leaves readers on theirs', async () => {
  const dir = tmp()
  const file = path.join(dir, 'e.embedrec')
  const e = await build(file)
  const ro = Engine.open(file, { readOnly: true })
  const snap = ro.snapshot()
  assert.equal(snap.path, file)
  assert.equal(snap.id.length, 32)
  assert.equal(e.snapshot(), null)
  // Another process opens the same snapshot by identity and answers the same.
  const code = `const { Engine } = require(${JSON.stringify(path.join(__dirname, '..'))});` +
    `const e = Engine.openSnapshot(${JSON.stringify(file)}, ${JSON.stringify(snap.id)});` +
    'process.stdout.write(JSON.stringify([e.size, e.search([1, 2, 0, 1], 3)[0].id]))'
  const out = JSON.parse(execFileSync(process.execPath, ['-e', code]).toString())
  assert.deepEqual(out, [ro.size, ro.search([1, 2, 0, 1], 3)[0].id])
  const before = answers(ro)
  assert.equal(ro.snapshotReplaced(), false)
  assert.equal(e.snapshotReplaced(), false)
  e.removeItems(['t1', 't2'])
  await e.save(file)
  // Replicas see the new snapshot and reopen; the old engine keeps answering meanwhile.
  assert.equal(ro.snapshotReplaced(), true)
  assert.deepEqual(answers(ro), before)
  assert.throws(() => Engine.openSnapshot(file, snap.id), { code: 'INVALID_INPUT', message: /replaced/ })
  const fresh = Engine.open(file, { readOnly: true })
  assert.equal(fresh.size, ro.size - 2)
  assert.equal(fresh.snapshotReplaced(), false)
  fs.rmSync(dir, { recursive: true })
  assert.equal(fresh.snapshotReplaced(), true)
})

test('damage in the mapped pages is found by verify', async () => {
  const dir = tmp()
  const file = path.join(dir, 'e.embedrec')
  await build(file)
  const raw = fs.readFileSync(file)
  const n = raw.readUInt32LE(12)
  let rows = null
  for (let i = 0; i < n; i++) {
    const e = 32 + 32 * i
    if (raw.readUInt32LE(e) === 7) rows = [Number(raw.readBigUInt64LE(e + 8)), Number(raw.readBigUInt64LE(e + 16))]
  }
  raw[rows[0] + rows[1] - 8] ^= 0x55
  fs.writeFileSync(file, raw)
  const ro = Engine.open(file, { readOnly: true })
  assert.throws(() => ro.verify(), { code: 'CORRUPT', message: /rows/ })
  assert.throws(() => Engine.loadSync(file), { code: 'CORRUPT' })
  fs.writeFileSync(path.join(dir, 'short.embedrec'), raw.subarray(0, 5000))
  assert.throws(() => Engine.open(path.join(dir, 'short.embedrec'), { readOnly: true }), { code: 'CORRUPT' })
  assert.throws(() => Engine.open(path.join(dir, 'missing'), { readOnly: true }), { code: 'IO' })
  fs.rmSync(dir, { recursive: true })
})
