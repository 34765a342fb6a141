// Item metadata (the Python suite has the same scenarios in test_metadata.py): hits with
// their items' tags and attributes on request, attribute updates that keep what they do not
// name, and the split calls' interaction objects.
'use strict'
const test = require('node:test')
const assert = require('node:assert')
const { Engine, ShardedEngine, holdoutSplit } = require('..')

function catalog() {
  const e = new Engine({ dim: 2, metric: 'cosine' })
  e.upsertItems(['a', 'b', 'c'], [[1, 0], [0.9, 0.1], [0, 1]], {
    tags: [['rock', 'live'], ['rock'], ['jazz']],
    attributes: [{ year: 1999, plays: 10 }, { year: 2005 }, { year: 1960 }],
  })
  return e
}

test('hits carry tags and attributes on request', async () => {
  const e = catalog()
  const plain = e.search([1, 0], 2)
  assert.deepStrictEqual(Object.keys(plain[0]).sort(), ['id', 'score'])
  const [a, b] = e.search([1, 0], 2, null, { withMetadata: true })
  assert.deepStrictEqual([a.id, a.tags, a.attributes], ['a', ['rock', 'live'], { year: 1999, plays: 10 }])
  assert.deepStrictEqual([b.id, b.tags, b.attributes], ['b', ['rock'], { year: 2005 }])
  assert.equal(a.score, plain[0].score)
  assert.deepStrictEqual(e.similar('a', 1, { tagsAny: ['jazz'] }, { withMetadata: true })[0].tags, ['jazz'])
  e.addInteractions(['u', 'u'], ['a', 'b'])
  const rec = e.recommend('u', 1, { withMetadata: true })
  assert.deepStrictEqual([rec[0].id, rec[0].tags, rec[0].attributes], ['c', ['jazz'], { year: 1960 }])
  assert.deepStrictEqual(e.recommendForItems(['c'], 1, null, { withMetadata: true })[0].attributes, { year: 2005 })
  // The same on a shard set.
  const set = await ShardedEngine.split(e, 2)
  assert.deepStrictEqual(set.search([1, 0], 2, null, { withMetadata: true }), e.search([1, 0], 2, null, { withMetadata: true }))
  assert.deepStrictEqual(set.recommend('u', 1, { withMetadata: true }), rec)
  // Batch calls return ids and scores only; itemAttributes reads the metadata.
  await assert.rejects(e.recommendBatch(['u'], 2, { withMetadata: true }), { code: 'INVALID_INPUT', message: /withMetadata/ })
  assert.throws(() => e.search([1, 0], 2, null, { withMeta: true }), { code: 'INVALID_INPUT', message: /withMeta/ })
  assert.deepStrictEqual(e.itemAttributes(['c', 'a']), [
    { tags: ['jazz'], attributes: { year: 1960 } },
    { tags: ['rock', 'live'], attributes: { year: 1999, plays: 10 } },
  ])
  assert.throws(() => e.itemAttributes(['a', 'zz']), { code: 'UNKNOWN_ITEM', message: /ids\[1\]/ })
})

test('updateAttributes keeps what it does not name', () => {
  const e = catalog()
  const recent = { ranges: [{ attribute: 'year', min: 2000 }] }
  assert.deepStrictEqual(e.search([1, 0], 3, recent).map((h) => h.id), ['b'])
  e.updateAttributes(['a', 'c'], { attributes: { year: [2010, null] }, remove: ['plays'] })
  assert.deepStrictEqual(e.itemAttributes(['a', 'c']), [
    { tags: ['rock', 'live'], attributes: { year: 2010 } },
    { tags: ['jazz'], attributes: { year: 1960 } },
  ])
  // Filters see the new value at once; vectors are untouched.
  assert.deepStrictEqual(e.search([1, 0], 3, recent).map((h) => h.id), ['a', 'b'])
  assert.deepStrictEqual([...e.itemVector('a')], [1, 0])
  e.updateAttributes(['b'], { tags: [['blues']], attributes: [{ bpm: 120 }] })
  assert.deepStrictEqual(e.itemAttributes(['b']), [{ tags: ['blues'], attributes: { year: 2005, bpm: 120 } }])
  // Bad input changes nothing and names the argument.
  const before = e.itemAttributes(['a', 'b', 'c'])
  assert.throws(() => e.updateAttributes(['a', 'zz'], { remove: ['year'] }), { code: 'UNKNOWN_ITEM', message: /ids\[1\]/ })
  assert.throws(() => e.updateAttributes(['a'], { tags: [] }), { code: 'INVALID_INPUT', message: /tags/ })
  assert.throws(() => e.updateAttributes(['a'], { attributes: [{ year: Infinity }] }), { code: 'INVALID_INPUT', message: /year/ })
  assert.throws(() => e.updateAttributes(['a'], { remov: ['year'] }), { code: 'INVALID_INPUT', message: /remov/ })
  assert.throws(() => e.updateAttributes(['a'], { remove: [''] }), { code: 'INVALID_INPUT', message: /remove\[0\]/ })
  assert.deepStrictEqual(e.itemAttributes(['a', 'b', 'c']), before)
})

test('evaluate stops when its signal aborts; splits take one interactions object', async () => {
  const users = []
  const items = []
  for (let u = 0; u < 300; u++) for (let j = 0; j < 8; j++) { users.push(`u${u}`); items.push(`t${(u * 7 + j * 13) % 200}`) }
  const e = new Engine({ dim: 0 })
  const { train, test: held } = holdoutSplit({ userIds: users, itemIds: items }, { seed: 1 })
  e.addInteractions(train.userIds, train.itemIds)
  await e.fit('popularity')
  const ac = new AbortController()
  ac.abort()
  await assert.rejects(e.evaluate(held.userIds, held.itemIds, 10, ac.signal), { code: 'CANCELLED' })
  const m = await e.evaluate(held.userIds, held.itemIds, 10, new AbortController().signal)
  assert.ok(m.users > 0)
  // A split's halves are interaction objects themselves.
  const again = holdoutSplit(train, { seed: 2 })
  assert.equal(again.train.userIds.length + again.test.userIds.length, train.userIds.length)
  assert.throws(() => holdoutSplit(users, { seed: 1 }), { code: 'INVALID_INPUT', message: /interactions/ })
  assert.throws(() => holdoutSplit({ userIds: users }), { code: 'INVALID_INPUT', message: /interactions\.itemIds/ })
})
