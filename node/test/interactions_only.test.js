// Interaction-only catalogs and integer ids through Node: the same scenarios as
// tests/interactions_only.rs and python/tests/test_interactions_only.py.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Engine, holdoutSplit } = require('..')

function log() {
  let s = 3
  const r = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32)
  const users = []
  const items = []
  for (let u = 0; u < 90; u++) {
    for (let j = 0; j < 12; j++) {
      users.push(u)
      items.push(Math.floor(r() * 100) * 3 + (u % 3))
    }
  }
  return { users, items }
}

test('an interaction log with integer ids is enough to start', async () => {
  const e = new Engine({ dim: 0, threads: 2 })
  const { users, items } = log()
  e.addInteractions(users, items)
  assert.ok(e.size > 250 && e.size <= 300)
  assert.ok(e.has(5) && !e.has('5'))
  const pop = e.recommend(0, 5)
  assert.equal(pop.length, 5)
  assert.ok(pop.every((h) => typeof h.id === 'number'))
  await e.fit('als', { factors: 8, iterations: 8 })
  const recs = e.recommend(1n, 10)
  assert.ok(recs.filter((h) => h.id % 3 === 1).length >= 8)
  assert.ok(e.similar(5, 5).filter((h) => h.id % 3 === 2).length >= 4)
  const batch = await e.recommendBatch([1, 2], 3)
  assert.ok(batch[0].every((h) => typeof h.id === 'number'))
  assert.ok(e.itemFactors().ids.every((i) => typeof i === 'number'))
  assert.throws(() => e.search([], 3), { code: 'INVALID_INPUT', message: /dim 0/ })
  const even = Array.from({ length: 150 }, (_, i) => 2 * i)
  e.upsertItems(even, null, { tags: even.map(() => ['even']) })
  assert.ok(e.recommend(1, 5, { filter: { tagsAny: ['even'] } }).every((h) => h.id % 2 === 0))
  const allowed = e.recommend(1, 5, { filter: { allowIds: [3, 6, 9n] } })
  assert.ok(allowed.every((h) => [3, 6, 9].includes(h.id)))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-'))
  e.saveSync(path.join(dir, 'e.embedrec'))
  const back = Engine.loadSync(path.join(dir, 'e.embedrec'))
  assert.deepEqual(back.recommend(1, 5), e.recommend(1, 5))
  fs.rmSync(dir, { recursive: true })
  const { train } = holdoutSplit({ userIds: users, itemIds: items })
  assert.equal(typeof train.userIds[0], 'number')
})

test('strings and integers are different ids; large integers come back as BigInt', () => {
  const e = new Engine({ dim: 2 })
  e.upsertItems([7, '7', 2n ** 60n], [[1, 0], [0, 1], [1, 1]])
  assert.equal(e.size, 3)
  assert.deepEqual([...e.itemVector(7)], [1, 0])
  assert.deepEqual([...e.itemVector('7')], [0, 1])
  const ids = e.search([1, 0.1], 3).map((h) => h.id)
  assert.ok(ids.includes(7) && ids.includes('7') && ids.includes(2n ** 60n))
  assert.throws(() => e.similar(8, 3), { code: 'UNKNOWN_ITEM', message: /unknown item id 8 in id/ })
  assert.throws(() => e.upsertItems([1, 2.5], [[1, 0], [0, 1]]), { code: 'INVALID_INPUT', message: /ids\[1\]/ })
  assert.throws(() => e.addInteractions(['u'], [true]), { code: 'INVALID_INPUT', message: /itemIds\[0\]/ })
  assert.throws(() => e.addInteractions(['u'], [2n ** 70n]), { code: 'INVALID_INPUT', message: /64-bit/ })
  assert.throws(() => e.addInteractions(['u'], ['\0x']), { code: 'INVALID_INPUT', message: /U\+0000/ })
})

test('items without vectors stay out of vector search', () => {
  const e = new Engine({ dim: 4, threads: 2 })
  const ids = Array.from({ length: 50 }, (_, i) => `t${i}`)
  e.upsertItems(ids, ids.map((_, i) => [1, i % 5, (i * 7) % 3, 1 + (i % 2)]))
  e.addInteractions(['a', 'a', 'b'], ['t1', 'x1', 'x2'])
  assert.equal(e.size, 52)
  const q = e.itemVector('t1')
  const hits = e.search(q, 52)
  assert.equal(hits.length, 50)
  assert.ok(hits.every((h) => h.id.startsWith('t')))
  assert.equal(e.recommend('b', 3).length, 3)
  assert.throws(() => e.itemVector('x1'), { code: 'INVALID_INPUT', message: /content vector/ })
  e.upsertItems(['t1'], null, { tags: [['fav']] })
  assert.deepEqual(e.itemVector('t1'), q)
  assert.equal(e.itemVectors().ids.length, 50)
})

test('a log in one call or in pieces makes the same engine', async () => {
  // One call (typed-array weights) or uneven pieces: the same counts, popularity and model.
  const { users, items } = log()
  const n = users.length
  const w = Float32Array.from({ length: n }, (_, r) => 1 + (r % 4))
  const whole = new Engine({ dim: 0, threads: 2 })
  const pieces = new Engine({ dim: 0, threads: 2 })
  const catalog = Array.from({ length: 300 }, (_, i) => i)
  for (const e of [whole, pieces]) e.upsertItems(catalog, null)
  whole.addInteractions(users, items, w)
  for (let at = 0, step = 1; at < n; step *= 3) {
    const end = Math.min(n, at + step)
    pieces.addInteractions(users.slice(at, end), items.slice(at, end), Array.from(w.slice(at, end)))
    at = end
  }
  const [a, b] = [whole.stats(), pieces.stats()]
  assert.deepEqual([a.items, a.users, a.interactions], [300, 90, n])
  assert.deepEqual([b.items, b.users, b.interactions], [300, 90, n])
  assert.deepEqual(whole.recommendForItems([], 20), pieces.recommendForItems([], 20))
  for (const e of [whole, pieces]) await e.fit('als', { factors: 8, iterations: 4 })
  for (const u of [0, 7, 45]) assert.deepEqual(whole.recommend(u, 10), pieces.recommend(u, 10))
  // A bad id is named by the first row that holds it; nothing is stored.
  assert.throws(() => whole.addInteractions(['a', 'b', '', 'c', ''], [1, 1, 1, 1, 1]), {
    code: 'INVALID_INPUT',
    message: /user_ids\[2\]/,
  })
  assert.equal(whole.stats().interactions, n)
})
