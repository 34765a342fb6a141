// Item-sharded engines through Node: the same scenarios as tests/shard.rs and
// python/tests/test_shard.py.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Engine, ShardedEngine } = require('..')

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-'))
const N = 1200
const GENRES = ['rock', 'jazz', 'pop', 'techno', 'folk']

// A seeded generator (xorshift), so that every run sees the same data.
function rng (seed) {
  let s = seed >>> 0
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0
    return s / 4294967296
  }
}

async function whole (model) {
  const r = rng(7)
  const centres = GENRES.map(() => Array.from({ length: 8 }, () => r() * 2 - 1))
  const e = new Engine({ dim: 8, index: 'exact', threads: 2 })
  const ids = Array.from({ length: N }, (_, i) => `t${i}`)
  e.upsertItems(ids, ids.map((_, i) => centres[i % 5].map((c) => c + 0.6 * (r() - 0.5))), {
    tags: ids.map((_, i) => [GENRES[i % 5]]),
    attributes: { year: ids.map((_, i) => 1960 + (i % 60)) },
  })
  const users = []; const items = []; const weights = []; const ts = []
  for (let u = 0; u < 200; u++) {
    for (let j = 0; j < 15; j++) {
      users.push(u)
      items.push(`t${j % 4 === 0 ? Math.floor(r() * (N + 30)) : Math.floor(r() * (N / 5)) * 5 + (u % 5)}`)
      weights.push(1 + Math.floor(r() * 4))
      ts.push(1000 + Math.floor(r() * 100000))
    }
  }
  e.addInteractions(users, items, weights, ts)
  if (model) await e.fit(model, model === 'als' ? { factors: 12, iterations: 5 } : {})
  return e
}

// The same hits: scores position by position; ids too, except among equal scores (and a tie
// at the last place may bring in another item of that score).
function same (a, b, what) {
  assert.equal(a.length, b.length, what)
  const close = (x, y) => Math.abs(x - y) <= 1e-4 * Math.max(1, Math.abs(x))
  a.forEach((h, i) => {
    assert.ok(close(h.score, b[i].score), `${what}: ${JSON.stringify([a, b])}`)
    const ok = h.id === b[i].id || a.some((o) => o.id === b[i].id && close(o.score, h.score)) || close(a[a.length - 1].score, b[i].score)
    assert.ok(ok, `${what}: ${JSON.stringify([a, b])}`)
  })
}

async function check (e, s) {
  const r = rng(3)
  for (const f of [null, { tagsAny: ['jazz', 'folk'] }, { ranges: { year: [1990, null] }, tagsNone: ['rock'] }]) {
    for (let q = 0; q < 5; q++) {
      const v = Array.from({ length: 8 }, () => r() * 2 - 1)
      same(e.search(v, 10, f), s.search(v, 10, f), 'search')
    }
    for (const id of ['t3', 't777', 't1210']) same(e.similar(id, 10, f), s.similar(id, 10, f), `similar ${id}`)
    for (let u = 0; u < 200; u += 17) same(e.recommend(u, 10, { filter: f }), s.recommend(u, 10, { filter: f }), `recommend ${u}`)
    const users = Array.from({ length: 60 }, (_, i) => i * 3)
    const [we, ws] = [await e.recommendBatch(users, 8, { filter: f }), await s.recommendBatch(users, 8, { filter: f })]
    we.forEach((row, i) => same(row, ws[i], 'recommendBatch'))
    const session = ['t1', 't506', 't1001', 't1205']
    same(e.recommendForItems(session, 10, [1, 3, 2, 1], { filter: f }), s.recommendForItems(session, 10, [1, 3, 2, 1], { filter: f }), 'recommendForItems')
  }
  same(e.recommend(5, 20, { excludeSeen: false }), s.recommend(5, 20, { excludeSeen: false }), 'seen kept')
}

for (const model of [null, 'als', 'popularity']) {
  test(`a split answers as the whole engine (model ${model})`, async () => {
    const e = await whole(model)
    e.addInteractions(Array.from({ length: 30 }, (_, i) => i), Array.from({ length: 30 }, (_, i) => `t${N + i}`))
    for (const n of [1, 3]) {
      const s = await ShardedEngine.split(e, n)
      assert.equal(s.shards, n)
      assert.equal(s.size, e.size)
      assert.deepEqual([...s.itemIds()].sort(), [...e.itemIds()].sort())
      await check(e, s)
    }
  })
}

test('shard files open through their manifest and a mixed set is refused', async () => {
  const e = await whole('als')
  const dir = tmp()
  const manifest = await ShardedEngine.splitTo(e, 3, path.join(dir, 'set'))
  assert.equal(path.basename(manifest), 'embedrec-shards.txt')
  const s = ShardedEngine.open(path.join(dir, 'set'), { threads: 2 })
  assert.equal(s.manifest, manifest)
  same(e.recommend(1, 10), s.recommend(1, 10), 'from files')
  e.addInteractions(['x'], ['t1'])
  await ShardedEngine.splitTo(e, 3, path.join(dir, 'other'))
  fs.copyFileSync(path.join(dir, 'other', 'shard-1-of-3.embedrec'), path.join(dir, 'set', 'shard-1-of-3.embedrec'))
  assert.throws(() => ShardedEngine.open(manifest), (err) => err.code === 'INVALID_INPUT' && /replaced/.test(err.message))
  fs.writeFileSync(manifest, 'embedrec shards 1\ncount 0\n')
  assert.throws(() => ShardedEngine.open(manifest), { code: 'CORRUPT' })
})

test('bad input names the argument, with the codes Python raises', async () => {
  const e = await whole(null)
  const s = await ShardedEngine.split(e, 2)
  await assert.rejects(ShardedEngine.split(e, 0), (err) => err.code === 'INVALID_INPUT' && /shards/.test(err.message))
  assert.throws(() => ShardedEngine.split(e, -1), (err) => err.code === 'INVALID_INPUT' && /shards/.test(err.message))
  for (const [call, field] of [
    [() => s.search(new Array(8).fill(0), 0), 'k'],
    [() => s.recommendForItems(['t1'], 3, [1, 2]), 'weights'],
    [() => s.recommend(1, 3, { diversity: 0.5 }), 'diversity'],
    [() => s.setThreads(1e6), 'threads'],
    [() => ShardedEngine.open('/nonexistent/x', { threads: 'two' }), 'threads'],
    [() => ShardedEngine.open('/nonexistent/x', { thread: 2 }), 'thread'],
  ]) {
    assert.throws(call, (err) => err.code === 'INVALID_INPUT' && new RegExp(field).test(err.message), field)
  }
  assert.throws(() => s.search([0, 0, 0], 3), (err) => err.code === 'DIMENSION_MISMATCH' && /query/.test(err.message))
  assert.throws(() => s.recommend('nobody', 3), { code: 'UNKNOWN_USER' })
  assert.throws(() => s.similar('nope', 3), { code: 'UNKNOWN_ITEM' })
  assert.throws(() => s.recommendForItems(['t1', 'nope'], 3), (err) => err.code === 'UNKNOWN_ITEM' && /items\[1\]/.test(err.message))
  await e.fit('item_knn')
  await assert.rejects(ShardedEngine.split(e, 2), (err) => err.code === 'INVALID_INPUT' && /item_knn/.test(err.message))
})
