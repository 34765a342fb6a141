// Training and evaluation through Node: the same scenarios as tests/training.rs.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Engine, holdoutSplit } = require('..')

function world(seed = 1) {
  let s = seed
  const r = () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32)
  const e = new Engine({ dim: 4, index: 'exact', threads: 2 })
  const ids = Array.from({ length: 600 }, (_, i) => `t${i}`)
  const vecs = ids.map((_, i) => [1, i % 5, (i % 5) * 2 + r(), r()])
  e.upsertItems(ids, vecs)
  const users = []
  const items = []
  for (let u = 0; u < 200; u++) {
    for (let j = 0; j < 15; j++) {
      users.push(`u${u}`)
      items.push(`t${Math.floor(r() * 120) * 5 + (u % 5)}`)
    }
  }
  return { e, users, items }
}
const genre = (id) => Number(id.slice(1)) % 5

test('fit ALS returns a Promise and serves recommend/similar', async () => {
  const { e, users, items } = world()
  e.addInteractions(users, items)
  const p = e.fit('als', { factors: 16, iterations: 10, regularization: 0.1 })
  assert.ok(p instanceof Promise)
  const report = await p
  assert.equal(report.model, 'als')
  assert.equal(report.users, 200)
  assert.ok(report.loss > 0)
  assert.equal(e.model, 'als')
  assert.ok(e.recommend('u2', 10).every((h) => genre(h.id) === 2))
  assert.ok(e.similar('t3', 5).filter((h) => genre(h.id) === 3).length >= 4)
  assert.ok(e.recommendForItems(['t1', 't6', 't11'], 5).every((h) => genre(h.id) === 1))
})

test('item-kNN, popularity, bad options, clearModel', async () => {
  const { e, users, items } = world(2)
  e.addInteractions(users, items)
  await e.fit('item_knn', { neighbours: 50, weighting: 'cosine' })
  assert.ok(e.recommend('u0', 10).filter((h) => genre(h.id) === 0).length >= 9)
  await e.fit('ease', { regularization: 100 })
  assert.equal(e.model, 'ease')
  assert.ok(e.recommend('u0', 10).filter((h) => genre(h.id) === 0).length >= 9)
  await e.fit('popularity')
  assert.equal(e.model, 'popularity')
  assert.throws(() => e.fit('svd'), { code: 'INVALID_INPUT', message: /svd/ })
  await assert.rejects(e.fit('als', { factors: 2000 }), { code: 'INVALID_INPUT', message: /als\.factors/ })
  e.clearModel()
  assert.equal(e.model, null)
})

test('holdoutSplit and evaluate: ALS beats popularity', async () => {
  const { e, users, items } = world(3)
  const { train, test: held } = holdoutSplit({ userIds: users, itemIds: items }, { testFraction: 0.2, minInteractions: 5, seed: 42 })
  assert.equal(train.userIds.length + held.userIds.length, users.length)
  e.addInteractions(train.userIds, train.itemIds, train.weights)
  await e.fit('popularity')
  const pop = await e.evaluate(held.userIds, held.itemIds, 10)
  await e.fit('als', { factors: 16, iterations: 10, regularization: 0.1 })
  const als = await e.evaluate(held.userIds, held.itemIds, 10)
  assert.equal(als.users, 200)
  // Test items are random within the genre, so ~0.04 is near the best possible NDCG here.
  assert.ok(als.ndcg > 3 * pop.ndcg && als.ndcg > 0.03, JSON.stringify({ als, pop }))
})

test('a trained model survives save and load', async () => {
  const { e, users, items } = world(4)
  e.addInteractions(users, items)
  await e.fit('als', { factors: 16, iterations: 5 })
  const l = Engine.fromBytes(e.toBytes())
  assert.equal(l.model, 'als')
  assert.deepEqual(l.recommend('u3', 10), e.recommend('u3', 10))
})

test('a tuned fit chooses the model on a validation split', async () => {
  const { e, users, items } = world(9)
  e.addInteractions(users, items)
  const seen = []
  const r = await e.fit('auto', { tune: { budget: 60, models: ['als', 'item_knn', 'popularity'] } }, (p) => {
    seen.push(p.model)
  })
  const t = r.tuning
  assert.ok(t.validationUsers > 0 && t.k === 10 && t.trials.length >= 3)
  const best = Math.max(...t.trials.map((x) => x.ndcg))
  assert.ok(t.trials.some((x) => x.ndcg === best && x.model === t.chosen.model))
  assert.equal(e.model, t.chosen.model)
  assert.equal(seen.filter((m) => m === 'tune').length, t.trials.length)
  assert.equal((await e.fit('als', { tune: true })).tuning.chosen.model, 'als')
  await assert.rejects(e.fit('auto', { tune: true }, () => false), { code: 'CANCELLED' })
  assert.throws(() => e.fit('als', { tune: true, factors: 8 }), { code: 'INVALID_INPUT', message: /tune/ })
  await assert.rejects(e.fit('auto', { tune: { budget: -1 } }), { code: 'INVALID_INPUT', message: /budget/ })
})

test('explanations and diversity', async () => {
  const { e, users, items } = world(10)
  e.addInteractions(users, items)
  await e.fit('item_knn')
  const [top] = e.recommend('u4', 1)
  const why = e.explain('u4', top.id, 100)
  const total = why.reduce((a, h) => a + h.score, 0)
  assert.ok(Math.abs(total - top.score) <= 1e-3 * Math.max(Math.abs(top.score), 1e-3))
  assert.equal(genre(why[0].id), genre(top.id))
  await e.fit('als', { factors: 16, iterations: 8 })
  const plain = e.recommend('u0', 10)
  const mixed = e.recommend('u0', 10, { diversity: 0.9 })
  assert.equal(mixed.length, 10)
  assert.equal(mixed[0].id, plain[0].id)
  const batch = await e.recommendBatch(['u0'], 10, { diversity: 0.9 })
  assert.deepEqual(batch[0].map((h) => h.id), mixed.map((h) => h.id))
  assert.throws(() => e.recommend('u0', 5, { diversity: 2 }), { code: 'INVALID_INPUT', message: /diversity/ })
  await e.fit('popularity')
  assert.throws(() => e.explain('u4', top.id, 3), { code: 'INVALID_INPUT', message: /model/ })
  assert.throws(() => e.explain('nobody', top.id, 3), { code: 'UNKNOWN_USER' })
})
