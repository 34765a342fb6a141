// Queries in model space and factors in and out, through Node: the same scenarios as
// tests/model_space.rs.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Engine } = require('..')

const N = 4000

async function trained(exactBelow = 100) {
  let s = 7
  const r = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32)
  const e = new Engine({ dim: 4, threads: 2, exactBelow })
  const ids = Array.from({ length: N }, (_, i) => `t${i}`)
  const tags = ids.map((_, i) => [['rock', 'jazz', 'pop', 'techno', 'folk'][i % 5]])
  e.upsertItems(ids, ids.map((_, i) => [1, i % 5, r(), r()]), { tags })
  const users = []
  const items = []
  for (let u = 0; u < 500; u++) {
    for (let j = 0; j < 25; j++) {
      const i = j % 3 === 0 ? Math.floor(r() * N) : Math.floor(r() * (N / 5)) * 5 + (u % 5)
      users.push(`u${u}`)
      items.push(`t${i}`)
    }
  }
  e.addInteractions(users, items)
  await e.fit('als', { factors: 16, iterations: 6 })
  return e
}

function close(a, b) {
  assert.equal(a.length, b.length)
  a.forEach((h, i) => assert.ok(Math.abs(h.score - b[i].score) <= 1e-5 * Math.max(Math.abs(b[i].score), 1)))
}

test('the model-space walk matches the exact ranking, with filters and seen items', async () => {
  const graph = await trained()
  const exact = await trained(1e9)
  graph.setEfSearch(1000)
  for (const u of ['u0', 'u1', 'u42']) {
    close(graph.recommend(u, 10), exact.recommend(u, 10))
    close(graph.recommend(u, 10, { excludeSeen: false }), exact.recommend(u, 10, { excludeSeen: false }))
  }
  close(graph.similar('t7', 10), exact.similar('t7', 10))
  const jazz = { filter: { tagsAny: ['jazz'] } }
  const r = graph.recommend('u3', 15, jazz)
  assert.equal(r.length, 15)
  assert.ok(r.every((h) => Number(h.id.slice(1)) % 5 === 1))
  close(r, exact.recommend('u3', 15, jazz))
})

test('factors round trip into another engine; bad input names the argument', async () => {
  const e = await trained()
  const items = e.itemFactors()
  const users = e.userFactors()
  assert.equal(items.width, 16)
  assert.equal(items.values.length, items.ids.length * 16)
  assert.equal(users.ids.length, 500)
  const vectors = e.itemVectors()
  assert.equal(vectors.values.length, N * 4)
  const other = new Engine({ dim: 4, threads: 2 })
  other.upsertItems(vectors.ids, vectors.values)
  other.installFactors(items.ids, items.values, users.ids, users.values, { regularization: 0.01 })
  assert.equal(other.model, 'als')
  e.setEfSearch(1000)
  other.setEfSearch(1000)
  close(other.recommend('u9', 10, { excludeSeen: false }), e.recommend('u9', 10, { excludeSeen: false }))
  close(other.similar('t4', 10), e.similar('t4', 10))
  assert.deepEqual(other.itemFactors().values, items.values)
  const two = items.values.slice(0, 32)
  assert.throws(() => other.installFactors(['t0', 'nope'], two), (err) => err.code === 'UNKNOWN_ITEM')
  const bad = Float32Array.from(two)
  bad[18] = NaN
  assert.throws(
    () => other.installFactors(['t0', 't1'], bad),
    (err) => err.code === 'INVALID_INPUT' && err.message.includes('item_factors[1][2]'),
  )
  assert.throws(() => other.installFactors(items.ids, items.values, users.ids), (err) => err.code === 'INVALID_INPUT' && err.message.includes('userFactors'))
  assert.throws(() => other.installFactors(items.ids, items.values, null, null, { factorz: 3 }), (err) => err.code === 'INVALID_INPUT')
  assert.deepEqual(other.itemFactors().values, items.values)
  other.clearModel()
  assert.throws(() => other.itemFactors(), (err) => err.code === 'INVALID_INPUT' && err.message.includes('model'))
})
