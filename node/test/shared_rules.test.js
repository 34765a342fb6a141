// Rules both bindings share (the Python suite has the same scenarios in
// test_shared_rules.py): unknown option keys are errors, every per-item list needs one entry
// per item, integers are taken exactly as given, and the split, id and training calls exist
// with the same behaviour.
'use strict'
const test = require('node:test')
const assert = require('node:assert')
const { Engine, holdoutSplit, leaveLastOut } = require('..')

function small() {
  const e = new Engine({ dim: 2, cacheCapacity: 0 })
  e.upsertItems(['a', 'b', 'c'], [[1, 0], [0.9, 0.1], [0, 1]])
  return e
}

test('unknown keys are rejected', async () => {
  const e = small()
  assert.throws(() => new Engine({ dim: 2, efSerch: 10 }), { code: 'INVALID_INPUT', message: /efSerch/ })
  assert.throws(() => e.search([1, 0], 2, { tagAny: ['rock'] }), { code: 'INVALID_INPUT', message: /tagAny/ })
  assert.throws(() => e.search([1, 0], 2, { ranges: [{ attr: 'year' }] }), { code: 'INVALID_INPUT', message: /attr/ })
  assert.throws(() => e.recommendForItems(['a'], 2, null, { excludeSeenn: false }), { code: 'INVALID_INPUT', message: /excludeSeenn/ })
  e.addInteractions(['u'], ['a'])
  assert.throws(() => e.fit('als', { factor: 8 }), { code: 'INVALID_INPUT', message: /factor/ })
  assert.throws(() => e.fit('popularity', { neighbours: 3 }), { code: 'INVALID_INPUT', message: /neighbours/ })
})

test('per-item lists need one entry per item', () => {
  const e = small()
  const v = [[1, 0], [0, 1]]
  assert.throws(() => e.upsertItems(['x', 'y'], v, { tags: [['rock']] }), { code: 'INVALID_INPUT', message: /tags/ })
  assert.throws(() => e.upsertItems(['x', 'y'], v, { attributes: [{ year: 1 }] }), { code: 'INVALID_INPUT', message: /attributes/ })
  assert.throws(() => e.upsertItems(['x', 'y'], v, { attributes: { year: [1] } }), { code: 'INVALID_INPUT', message: /year/ })
  assert.throws(() => e.addInteractions(['u', 'v'], ['a']), { code: 'INVALID_INPUT', message: /item_ids/ })
  assert.equal(e.has('x'), false)
  assert.equal(e.size, 3)
})

test('integers are taken exactly', () => {
  const e = small()
  for (const k of [-1, 2 ** 32 + 3, 2 ** 64, 1.5, '3', NaN]) {
    assert.throws(() => e.search([1, 0], k), { code: 'INVALID_INPUT', message: /\bk\b/ }, `k = ${k}`)
  }
  assert.throws(() => e.setEfSearch(2 ** 32 + 7), { code: 'INVALID_INPUT', message: /ef/ })
  assert.throws(() => e.setThreads(-1), { code: 'INVALID_INPUT', message: /threads/ })
  assert.throws(() => new Engine({ dim: 2, cacheCapacity: -1 }), { code: 'INVALID_INPUT', message: /cacheCapacity/ })
  assert.throws(() => new Engine({ dim: 1.5 }), { code: 'INVALID_INPUT', message: /dim/ })
  assert.throws(() => new Engine({ dim: 2, efSearch: 2 ** 32 + 7 }), { code: 'INVALID_INPUT', message: /4294967303/ })
  assert.throws(() => e.addInteractions(['u'], ['a'], null, [NaN]), { code: 'INVALID_INPUT', message: /timestamps/ })
  assert.equal(e.config.efSearch, new Engine({ dim: 2 }).config.efSearch)
  assert.equal(e.search([1, 0], 2).length, 2)
})

test('splits, ids, fit progress and cancellation', async () => {
  const users = Array.from({ length: 60 }, (_, i) => `u${i % 6}`)
  const items = Array.from({ length: 60 }, (_, i) => `t${(i * 7) % 20}`)
  const { train, test: held } = holdoutSplit({ userIds: users, itemIds: items }, { minInteractions: 5, seed: 3 })
  assert.equal(train.userIds.length + held.userIds.length, 60)
  const lo = leaveLastOut({ userIds: users, itemIds: items, timestamps: Array.from({ length: 60 }, (_, i) => i) })
  assert.equal(lo.test.userIds.length, 6)
  assert.equal(lo.train.userIds.length, 54)
  assert.throws(() => holdoutSplit({ userIds: users, itemIds: items }, { seed: -1 }), { code: 'INVALID_INPUT', message: /seed/ })
  const e = new Engine({ dim: 2 })
  const ids = Array.from({ length: 20 }, (_, i) => `t${i}`)
  e.upsertItems(ids, ids.map((_, i) => [Math.cos(i), Math.sin(i)]))
  assert.deepEqual([...e.itemIds()].sort(), [...ids].sort())
  e.addInteractions(users, items)
  const seen = []
  await e.fit('als', { factors: 4, iterations: 3 }, (p) => { seen.push(p) })
  assert.deepEqual(seen.map((p) => p.iteration), [1, 2, 3])
  assert.equal(seen[2].total, 3)
  await assert.rejects(e.fit('als', { iterations: 5 }, (p) => p.iteration < 2), { code: 'CANCELLED' })
  const ac = new AbortController()
  await assert.rejects(
    e.fit('als', { iterations: 50 }, (p) => { if (p.iteration === 2) ac.abort() }, ac.signal),
    (err) => err.code === 'CANCELLED' || err.name === 'AbortError',
  )
  assert.equal(e.model, 'als')
})

test('a file does not choose the thread count; weights are bounded', () => {
  const os = require('node:os')
  const e = new Engine({ dim: 2, threads: 1000 })
  e.upsertItems(['a', 'b'], [[1, 0], [0, 1]])
  const back = Engine.fromBytes(e.toBytes())
  assert.ok(back.config.threads <= os.availableParallelism(), `${back.config.threads}`)
  for (const w of [3e38, Infinity, NaN, 0, -1]) {
    assert.throws(() => e.addInteractions(['u'], ['a'], [w]), { code: 'INVALID_INPUT', message: /weights\[0\]/ })
  }
})

test('ids are valid Unicode; typed arrays of either width are numbers; every error has a code', () => {
  const e = small()
  assert.throws(() => e.upsertItems(['\ud800'], [[1, 0]]), { code: 'INVALID_INPUT', message: /ids\[0\].*surrogate/ })
  assert.throws(() => e.upsertItems(['\udfff'], [[1, 0]]), { code: 'INVALID_INPUT', message: /surrogate/ })
  assert.throws(() => e.similar('\ud800', 2), { code: 'INVALID_INPUT', message: /id/ })
  assert.equal(e.size, 3)
  e.upsertItems(['\ufffd'], new Float64Array([1, 1])) // a real U+FFFD is a valid id
  assert.equal(e.has('\ufffd'), true)
  assert.equal(e.search(new Float64Array([1, 0]), 2).length, 2)
  e.addInteractions(['u'], ['a'], new Float32Array([2]), new Float64Array([5]))
  assert.throws(() => e.search('nope', 2), { code: 'INVALID_INPUT', message: /vector/ })
  assert.throws(() => e.upsertItems(['z'], [['x', 'y']]), { code: 'INVALID_INPUT', message: /vectors/ })
  assert.throws(() => e.removeItems([1.5]), { code: 'INVALID_INPUT', message: /ids\[0\]/ })
  assert.throws(() => e.removeItems([1]), { code: 'UNKNOWN_ITEM', message: /unknown item id 1 in ids\[0\]/ })
  assert.throws(() => e.addInteractions(['u'], ['a'], ['heavy']), { code: 'INVALID_INPUT', message: /weights/ })
})
