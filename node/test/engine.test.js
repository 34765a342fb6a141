// The same scenarios as the Rust and Python tests, through the Node API.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Engine } = require('..')

const GENRES = ['rock', 'jazz', 'pop', 'techno', 'folk']

function rng(seed) {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}
function gauss(r) {
  return Math.sqrt(-2 * Math.log(Math.max(r(), 1e-9))) * Math.cos(2 * Math.PI * r())
}

function catalog(n = 2000, dim = 16, seed = 42) {
  const r = rng(seed)
  const centres = GENRES.map(() => Array.from({ length: dim }, () => gauss(r)))
  const v = new Float32Array(n * dim)
  for (let i = 0; i < n; i++) for (let d = 0; d < dim; d++) v[i * dim + d] = centres[i % 5][d] + 0.6 * gauss(r)
  const ids = Array.from({ length: n }, (_, i) => `t${i}`)
  const tags = ids.map((_, i) => [GENRES[i % 5]])
  const attributes = ids.map((_, i) => ({ year: 1960 + (i % 60), popularity: i % 100 }))
  return { ids, v, tags, attributes }
}

function engine(opts = {}) {
  const e = new Engine({ dim: 16, threads: 2, ...opts })
  const c = catalog()
  e.upsertItems(c.ids, c.v, { tags: c.tags, attributes: c.attributes })
  return e
}
const ids = (hits) => hits.map((h) => h.id)

test('build, size, has, itemVector', () => {
  const e = engine()
  assert.equal(e.size, 2000)
  assert.equal(e.dim, 16)
  assert.ok(e.has('t1') && !e.has('nope'))
  const v = e.itemVector('t3')
  assert.ok(v instanceof Float32Array && v.length === 16)
})

test('search and similar: scores, order, k beyond catalog', () => {
  const e = engine()
  const hits = e.search(e.itemVector('t0'), 5)
  assert.equal(hits[0].id, 't0')
  assert.ok(Math.abs(hits[0].score - 1) < 1e-5)
  for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].score >= hits[i].score)
  const sim = e.similar('t0', 10)
  assert.equal(sim.length, 10)
  assert.ok(!ids(sim).includes('t0'))
  const small = new Engine({ dim: 2, metric: 'l2' })
  small.upsertItems(['a', 'b'], [[0, 0], [3, 4]])
  assert.deepEqual(ids(small.search([0, 0], 100)), ['a', 'b'])
  assert.equal(small.search([0, 0], 2)[1].score, -25)
})

test('upsert replaces, remove forgets', () => {
  const e = new Engine({ dim: 2, metric: 'dot' })
  e.upsertItems(['a', 'b'], new Float32Array([1, 0, 0, 1]))
  e.upsertItems(['a'], [[0, 2]])
  assert.deepEqual(Array.from(e.itemVector('a')), [0, 2])
  assert.deepEqual(ids(e.search([0, 1], 2)), ['a', 'b'])
  assert.equal(e.removeItems(['a']), 1)
  assert.deepEqual(ids(e.search([0, 1], 2)), ['b'])
})

test('filters run inside the search', () => {
  const e = engine()
  const q = e.itemVector('t0')
  const hits = e.search(q, 20, { tagsAny: ['jazz'], ranges: [{ attribute: 'year', min: 1970, max: 1971 }] })
  assert.equal(hits.length, 20)
  for (const h of hits) {
    const i = Number(h.id.slice(1))
    assert.equal(i % 5, 1)
    assert.ok(i % 60 >= 10 && i % 60 <= 11)
  }
  assert.equal(e.search(q, 5, { allowIds: ['t3', 't4', 'zz'] }).length, 2)
  assert.deepEqual(e.search(q, 5, { tagsAll: ['rock', 'jazz'] }), [])
  const top = e.search(q, 1)[0].id
  assert.notEqual(e.search(q, 1, { denyIds: [top] })[0].id, top)
  assert.throws(() => e.search(q, 5, { ranges: [{ attribute: 'tempo', min: 1 }] }), { code: 'UNKNOWN_ATTRIBUTE', message: /tempo/ })
})

test('recommend excludes seen; anonymous sessions; unknown user', () => {
  const e = engine()
  const items = Array.from({ length: 20 }, (_, i) => `t${i * 5 + 1}`)
  e.addInteractions(Array(20).fill('u1'), items, Array(20).fill(1), items.map((_, i) => i))
  const recs = e.recommend('u1', 10)
  assert.equal(recs.length, 10)
  for (const r of recs) {
    assert.ok(!items.includes(r.id))
    assert.equal(Number(r.id.slice(1)) % 5, 1)
  }
  const all = ids(e.recommend('u1', e.size, { excludeSeen: false }))
  assert.ok(items.every((i) => all.includes(i)))
  assert.deepEqual(ids(e.recommendForItems(items, 10)), ids(recs))
  assert.throws(() => e.recommend('ghost', 5), { code: 'UNKNOWN_USER', message: /ghost/ })
  assert.equal(e.recommendForItems([], 3).length, 3)
})

test('batch calls match single calls and return Promises', async () => {
  const e = engine()
  const q = catalog(30, 16, 7).v
  const p = e.searchBatch(q, 5)
  assert.ok(p instanceof Promise)
  const batch = await p
  assert.equal(batch.length, 30)
  for (let i = 0; i < 30; i++) assert.deepEqual(ids(batch[i]), ids(e.search(q.subarray(i * 16, i * 16 + 16), 5)))
  const users = Array.from({ length: 10 }, (_, i) => `u${i}`)
  users.forEach((u, i) => e.addInteractions([u, u], [`t${i}`, `t${i + 50}`]))
  const recs = await e.recommendBatch(users, 4)
  users.forEach((u, i) => assert.deepEqual(ids(recs[i]), ids(e.recommend(u, 4))))
  await assert.rejects(e.recommendBatch(['u1', 'nobody'], 4), { code: 'UNKNOWN_USER' })
})

test('cache hits, and every mutation invalidates', () => {
  const e = engine()
  e.addInteractions(['u'], ['t1'])
  const q = new Float32Array(16).fill(1)
  const first = e.search(q, 5)
  assert.deepEqual(e.search(q, 5), first)
  const c = e.stats().cache
  assert.equal(c.hits, 1)
  assert.equal(c.misses, 1)
  const top = first[0].id
  e.upsertItems([top], new Float32Array(16).fill(-1))
  assert.ok(!ids(e.search(q, 5)).includes(top))
  const victim = e.search(q, 5)[0].id
  e.removeItems([victim])
  assert.ok(!ids(e.search(q, 5)).includes(victim))
  const r1 = e.recommend('u', 3)
  e.addInteractions(['u'], [r1[0].id])
  assert.ok(!ids(e.recommend('u', 3)).includes(r1[0].id))
  assert.ok(e.stats().cache.invalidations >= 3)
})

test('stats and Prometheus text', () => {
  const e = engine()
  for (let i = 0; i < 5; i++) e.similar('t1', 3)
  assert.throws(() => e.similar('missing', 3), { code: 'UNKNOWN_ITEM' })
  const s = e.stats()
  const sim = s.ops.similar
  assert.equal(sim.count, 6)
  assert.equal(sim.errors, 1)
  assert.ok(sim.p50Us <= sim.p99Us)
  assert.match(e.metricsText(), /embedrec_items 2000/)
})

test('save/load round trip (Promise and sync), bytes', async () => {
  const e = engine()
  e.addInteractions(['u1', 'u1'], ['t1', 't2'], [1, 3])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-'))
  const file = path.join(dir, 'e.embedrec')
  await e.save(file)
  const l = await Engine.load(file)
  assert.ok(l instanceof Engine)
  assert.equal(l.size, e.size)
  assert.deepEqual(l.recommend('u1', 5), e.recommend('u1', 5))
  e.saveSync(file)
  assert.equal(Engine.loadSync(file).size, 2000)
  assert.deepEqual(fs.readdirSync(dir), ['e.embedrec'])
  assert.equal(Engine.fromBytes(e.toBytes()).size, 2000)
})

test('corrupt files are rejected with CORRUPT, process survives', async () => {
  const e = engine()
  const data = e.toBytes()
  for (const bad of [Buffer.alloc(0), data.subarray(0, 10), data.subarray(0, data.length - 1), Buffer.from('garbage'.repeat(10))]) {
    assert.throws(() => Engine.fromBytes(bad), { code: 'CORRUPT' })
  }
  const flipped = Buffer.from(data)
  flipped[flipped.length >> 1] ^= 0x10
  assert.throws(() => Engine.fromBytes(flipped), { code: 'CORRUPT', message: /checksum/ })
  const future = Buffer.from(data)
  future[8] = 99
  assert.throws(() => Engine.fromBytes(future), { code: 'UNSUPPORTED_VERSION' })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-'))
  const file = path.join(dir, 'trunc.embedrec')
  fs.writeFileSync(file, data.subarray(0, data.length / 3))
  await assert.rejects(Engine.load(file), { code: 'CORRUPT', message: /trunc\.embedrec/ })
  await assert.rejects(Engine.load(path.join(dir, 'missing')), { code: 'IO' })
  await assert.rejects(Engine.load(dir), { code: 'IO', message: /directory/ })
})

test('typed-array edge cases and error codes', () => {
  const e = new Engine({ dim: 4, index: 'exact' })
  assert.throws(() => e.upsertItems(['x'], new Float32Array(5)), { code: 'INVALID_INPUT', message: /multiple of dim = 4/ })
  assert.throws(() => e.upsertItems(['x', 'y'], new Float32Array(4)), { code: 'INVALID_INPUT', message: /2 entries/ })
  assert.throws(() => e.upsertItems(['x'], [[1, 2, 3]]), { code: 'DIMENSION_MISMATCH' })
  assert.throws(() => e.upsertItems(['x'], new Float32Array([1, 2, NaN, 4])), { code: 'INVALID_INPUT', message: /vectors\[0\]\[2\]/ })
  assert.throws(() => e.upsertItems(['z'], new Float32Array(4)), { code: 'INVALID_INPUT', message: /zero vector/ })
  e.upsertItems(['a'], new Float32Array([1, 2, 3, 4]))
  assert.throws(() => e.search([1, 2, 3], 1), { code: 'DIMENSION_MISMATCH' })
  assert.throws(() => e.search([1, 2, 3, Infinity], 1), { code: 'INVALID_INPUT' })
  assert.throws(() => e.search([1, 2, 3, 4], 0), { code: 'INVALID_INPUT', message: /k/ })
  assert.throws(() => new Engine({ dim: 4, m: 300 }), { code: 'INVALID_INPUT', message: /config\.m/ })
  assert.throws(() => new Engine({ dim: 4, metric: 'manhattan' }), { code: 'INVALID_INPUT', message: /manhattan/ })
  assert.throws(() => e.addInteractions(['u'], ['']), { code: 'INVALID_INPUT', message: /item_ids\[0\]/ })
  assert.equal(e.size, 1)
})

test('panics become INTERNAL errors (sync and async), engine survives', async () => {
  const e = engine()
  const native = require('..')
  assert.throws(() => native._debugPanic(), { code: 'INTERNAL', message: /deliberate panic/ })
  await assert.rejects(native._debugPanicAsync(), { code: 'INTERNAL' })
  assert.equal(e.similar('t1', 3).length, 3)
})

test('event loop keeps ticking during a long recommendBatch', async () => {
  const e = new Engine({ dim: 32, threads: 1, cacheCapacity: 0 })
  const c = catalog(20000, 32)
  e.upsertItems(c.ids, c.v)
  const users = []
  for (let u = 0; u < 3000; u++) {
    users.push(`u${u}`)
    e.addInteractions([`u${u}`, `u${u}`], [`t${u}`, `t${u + 7}`])
  }
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const t0 = Date.now()
  // Batches until 100 ms have passed (one is too short on a fast machine). A batch that
  // blocked the main thread would let the timer fire about once per batch, between them.
  let rounds = 0
  let elapsed = 0
  while (elapsed < 100 && rounds < 100) {
    await e.recommendBatch(users, 10)
    rounds++
    elapsed = Date.now() - t0
  }
  clearInterval(timer)
  assert.ok(elapsed >= 100, `100 batches took only ${elapsed} ms`)
  assert.ok(ticks >= rounds + 10, `timer fired ${ticks} times in ${elapsed} ms (${rounds} batches)`)
})

test('many concurrent Promises mixing reads and writes', async () => {
  const e = engine()
  const work = []
  for (let i = 0; i < 200; i++) {
    if (i % 10 === 0) e.upsertItems([`new${i}`], new Float32Array(16).fill(i + 1))
    if (i % 15 === 0) e.addInteractions(['cu'], [`t${i}`])
    work.push(e.searchBatch(new Float32Array(16 * 4).fill((i % 7) + 1), 5))
    if (i % 20 === 0) work.push(e.recommendBatch(['cu'], 5))
  }
  const results = await Promise.all(work)
  assert.equal(results.length, 210)
  assert.equal(e.size, 2020)
})

test("the READMEs' Node snippets run", async () => {
  const blocks = []
  for (const file of [path.join(__dirname, '..', 'README.md'), path.join(__dirname, '..', '..', 'README.md')]) {
    const readme = fs.readFileSync(file, 'utf8')
    const found = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])
    assert.ok(found.length > 0, `${file} has no js snippet`)
    blocks.push(...found)
  }
  const logs = []
  // Snippets may await: each runs as the body of an async function.
  const AsyncFunction = (async () => {}).constructor
  for (const b of blocks) {
    const fn = new AsyncFunction('require', 'console', b)
    await fn((m) => (m === 'embedrec' ? require('..') : require(m)), { log: (...a) => logs.push(a) })
  }
  assert.ok(logs.length >= 2)
})

test('setEfSearch tunes queries, invalidates the cache and is saved', async () => {
  const c = catalog(3000, 8)
  const e = new Engine({ dim: 8, metric: 'l2', threads: 2 })
  e.upsertItems(c.ids, c.v)
  const q = new Float32Array(8).fill(0.5)
  const wide = e.search(q, 10)
  assert.equal(e.config.efSearch, 128)
  assert.throws(() => e.setEfSearch(0), { code: 'INVALID_INPUT', message: /ef_search/ })
  e.setEfSearch(10)
  assert.equal(e.config.efSearch, 10)
  const misses = e.stats().cache.misses
  const narrow = e.search(q, 10)
  assert.equal(e.stats().cache.misses, misses + 1)
  assert.equal(narrow.length, 10)
  assert.ok(narrow[0].score <= wide[0].score + 1e-6)
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-ef-')), 'ef.embedrec')
  await e.save(file)
  assert.equal((await Engine.load(file)).config.efSearch, 10)
})

test('setThreads resizes the pool, keeps answers and is saved', async () => {
  const c = catalog(2000, 8)
  const e = new Engine({ dim: 8, metric: 'l2', threads: 2 })
  e.upsertItems(c.ids, c.v)
  const queries = c.v.subarray(0, 50 * 8)
  const before = await e.searchBatch(queries, 5)
  assert.throws(() => e.setThreads(1025), { code: 'INVALID_INPUT', message: /threads.*1025/ })
  assert.equal(e.config.threads, 2)
  e.setThreads(1)
  assert.equal(e.config.threads, 1)
  assert.equal(e.stats().threads, 1)
  e.clearCache()
  assert.deepEqual(await e.searchBatch(queries, 5), before)
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-threads-')), 't.embedrec')
  await e.save(file)
  assert.equal((await Engine.load(file)).config.threads, 1)
})

test('simdLevel names the distance kernels', () => {
  assert.ok(['avx512', 'avx2+fma', 'neon', 'scalar'].includes(require('..').simdLevel()))
})

test('native_int8 finds an item upserted outside the fitted range', () => {
  // The codes are fitted on the first batch; the later outlier's codes are clamped, so its
  // estimate ranks it low, yet its exact score is the best (10 - 0.3 * 7 = 7.9).
  let seed = 21
  const uniform = () => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return ((seed >>> 0) / 4294967296) * 2 - 1
  }
  const e = new Engine({ dim: 8, metric: 'dot', index: 'native_int8', exactBelow: 0 })
  const names = Array.from({ length: 300 }, (_, i) => `i${i}`)
  e.upsertItems(names, Float32Array.from({ length: 300 * 8 }, uniform))
  e.upsertItems(['outlier'], Float32Array.from([10, -1, -1, -1, -1, -1, -1, -1]))
  e.setEfSearch(600)
  const hits = e.search([1, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3], 10)
  assert.equal(hits[0].id, 'outlier')
  assert.ok(Math.abs(hits[0].score - 7.9) < 1e-4)
})

// The codes re-score candidates on the stored rows, f32 or f16: scores are exact for the
// stored vectors (those itemVector returns).
for (const storage of ['f32', 'f16']) {
  test(`native_int8 index over ${storage} rows returns exact scores and round-trips`, async () => {
    const c = catalog(4000, 16)
    const e = new Engine({ dim: 16, metric: 'l2', index: 'native_int8', exactBelow: 0, threads: 2, vectorStorage: storage })
    e.upsertItems(c.ids, c.v)
    assert.equal(e.stats().index, 'native_int8')
    assert.equal(e.config.vectorStorage, storage)
    const q = c.v.slice(9 * 16, 10 * 16)
    const hits = e.search(q, 3)
    assert.equal(hits[0].id, 't9')
    const v = e.itemVector(hits[1].id)
    const exact = -v.reduce((s, x, i) => s + (x - q[i]) ** 2, 0)
    assert.ok(Math.abs(hits[1].score - exact) < 1e-4)
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-i8-')), 'i8.embedrec')
    await e.save(file)
    const l = await Engine.load(file)
    assert.equal(l.config.index, 'native_int8')
    assert.equal(l.config.vectorStorage, storage)
    assert.deepEqual(l.search(q, 3), hits)
    // Served read-only from the mapped file (codes and links from the graph section, the
    // stored rows mapped for the re-scoring): the same answers, and at a wide search every
    // true top-10.
    const served = Engine.open(file, { readOnly: true })
    assert.deepEqual(served.search(q, 3), hits)
    const flat = new Engine({ dim: 16, metric: 'l2', index: 'exact', vectorStorage: storage })
    flat.upsertItems(c.ids, c.v)
    served.setEfSearch(200)
    for (let i = 0; i < 50; i++) {
      const p = c.v.slice(i * 16, (i + 1) * 16).map((x) => x + 0.05)
      const got = served.search(p, 10).map((h) => h.id)
      assert.deepEqual(got, flat.search(p, 10).map((h) => h.id), `query ${i}`)
    }
  })
}

test('native_1bit index reaches full recall and serves read-only', async () => {
  // Embedding-like data: a 16-dimensional cluster mixture mapped into 384 dimensions.
  let seed = 4
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed / 2147483648
  }
  const normal = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd())
  const [n, dim, rank] = [3000, 384, 16]
  const map = Array.from({ length: rank * dim }, () => normal() * 0.25)
  const centres = Array.from({ length: 40 }, () => Array.from({ length: rank }, normal))
  const v = new Float32Array((n + 30) * dim)
  for (let i = 0; i < n + 30; i++) {
    const c = centres[Math.floor(rnd() * 40)]
    const z = c.map((x) => x + 0.5 * normal())
    for (let d = 0; d < dim; d++) {
      let x = 0
      for (let k = 0; k < rank; k++) x += z[k] * map[k * dim + d]
      v[i * dim + d] = x + 0.05 * normal()
    }
  }
  const ids = Array.from({ length: n }, (_, i) => `t${i}`)
  const items = v.slice(0, n * dim)
  const e = new Engine({ dim, metric: 'dot', index: 'native_1bit', exactBelow: 0, efSearch: 200 })
  e.upsertItems(ids, items)
  assert.equal(e.stats().index, 'native_1bit')
  const exact = new Engine({ dim, metric: 'dot', index: 'exact' })
  exact.upsertItems(ids, items)
  let found = 0
  const queries = Array.from({ length: 30 }, (_, i) => v.slice((n + i) * dim, (n + i + 1) * dim))
  for (const q of queries) {
    const truth = new Set(exact.search(q, 10).map((h) => h.id))
    found += e.search(q, 10).filter((h) => truth.has(h.id)).length
  }
  assert.ok(found / 300 >= 0.97, `recall ${found / 300}`)
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-1bit-')), 'bits.embedrec')
  await e.save(file)
  const served = Engine.open(file, { readOnly: true })
  assert.equal(served.config.index, 'native_1bit')
  for (const q of queries) assert.deepEqual(served.search(q, 10), e.search(q, 10))
  assert.throws(() => new Engine({ dim, index: 'native_2bit' }), { code: 'INVALID_INPUT', message: /native_1bit/ })
})

test('int8 vector storage: exact scores on stored vectors, recall, memory, round trip', async () => {
  assert.throws(() => new Engine({ dim: 32, vectorStorage: 'f8' }), {
    code: 'INVALID_INPUT',
    message: /vector_storage.*"int8"/,
  })
  const c = catalog(3000, 32)
  const f32 = new Engine({ dim: 32, metric: 'l2', index: 'exact', cacheCapacity: 0 })
  const i8 = new Engine({ dim: 32, metric: 'l2', vectorStorage: 'int8', exactBelow: 0, cacheCapacity: 0 })
  for (const e of [f32, i8]) e.upsertItems(c.ids, c.v)
  assert.equal(i8.config.vectorStorage, 'int8')
  assert.equal(f32.config.vectorStorage, 'f32')
  const input = c.v.slice(5 * 32, 6 * 32)
  const stored = i8.itemVector('t5')
  const step = input.reduce((m, x) => Math.max(m, Math.abs(x)), 0) / 127
  stored.forEach((x, i) => assert.ok(Math.abs(x - input[i]) <= step * 0.5001))
  let found = 0
  for (let r = 0; r < 30; r++) {
    const q = c.v.slice(r * 32, (r + 1) * 32).map((x) => x + 0.3)
    const hits = i8.search(q, 10)
    const truth = new Set(ids(f32.search(q, 10)))
    found += hits.filter((h) => truth.has(h.id)).length
    for (const h of hits.slice(0, 3)) {
      const v = i8.itemVector(h.id)
      const want = -v.reduce((s, x, i) => s + (x - q[i]) ** 2, 0)
      assert.ok(Math.abs(h.score - want) <= 1e-4 * Math.max(1, Math.abs(want)), `${h.score} vs ${want}`)
    }
  }
  assert.ok(found / 300 >= 0.9, `recall ${found / 300}`)
  assert.ok(i8.stats().vectorMemoryBytes * 3 < f32.stats().vectorMemoryBytes)
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-codes-')), 'codes.embedrec')
  await i8.save(file)
  const l = await Engine.load(file)
  assert.equal(l.config.vectorStorage, 'int8')
  assert.deepEqual(l.itemVector('t5'), stored)
  const q = c.v.slice(0, 32)
  assert.deepEqual(l.search(q, 10), i8.search(q, 10))
})

test('f16 vector storage: recall, half the memory, out-of-range values refused, round trip', async () => {
  const c = catalog(3000, 32)
  const f32 = new Engine({ dim: 32, metric: 'cosine', index: 'exact', cacheCapacity: 0 })
  const f16 = new Engine({ dim: 32, metric: 'cosine', vectorStorage: 'f16', exactBelow: 0, cacheCapacity: 0 })
  for (const e of [f32, f16]) e.upsertItems(c.ids, c.v)
  assert.equal(f16.config.vectorStorage, 'f16')
  // Stored values are the f16 roundings of the input (relative error at most 2^-11).
  const input = c.v.slice(5 * 32, 6 * 32)
  const stored = f16.itemVector('t5')
  stored.forEach((x, i) => assert.ok(Math.abs(x - input[i]) <= Math.abs(input[i]) / 2048 + 3e-8, `${x} vs ${input[i]}`))
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0))
  let found = 0
  const queries = []
  for (let r = 0; r < 30; r++) queries.push(c.v.slice(r * 32, (r + 1) * 32).map((x) => x + 0.3))
  for (const q of queries) {
    const hits = f16.search(q, 10)
    const truth = new Set(ids(f32.search(q, 10)))
    found += hits.filter((h) => truth.has(h.id)).length
    for (const h of hits.slice(0, 3)) {
      const v = f16.itemVector(h.id)
      const want = v.reduce((s, x, i) => s + x * q[i], 0) / (norm(v) * norm(q))
      assert.ok(Math.abs(h.score - want) <= 1e-4, `${h.score} vs ${want}`)
    }
  }
  assert.ok(found / 300 >= 0.98, `recall ${found / 300}`)
  assert.ok(f16.stats().vectorMemoryBytes < 0.55 * f32.stats().vectorMemoryBytes)
  // Values f16 cannot hold are refused, naming the component; nothing is stored.
  const bad = new Float32Array(32).fill(0.5)
  bad[3] = 1e6
  assert.throws(() => f16.upsertItems(['big'], bad), { code: 'INVALID_INPUT', message: /vectors\[0\]\[3\].*65504/ })
  assert.throws(() => f16.upsertItems(['tiny'], new Float32Array(32).fill(1e-9)), {
    code: 'INVALID_INPUT',
    message: /rounds to zero/,
  })
  assert.ok(!f16.has('big') && !f16.has('tiny'))
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-half-')), 'half.embedrec')
  await f16.save(file)
  for (const other of [await Engine.load(file), Engine.open(file, { readOnly: true })]) {
    assert.equal(other.config.vectorStorage, 'f16')
    assert.deepEqual(other.itemVector('t5'), stored)
    for (const q of queries.slice(0, 5)) assert.deepEqual(other.search(q, 10), f16.search(q, 10))
  }
})

test('several engines share one Prometheus exposition (same scenarios as Rust and Python)', () => {
  const { metricsText } = require('..')
  const a = engine()
  const b = new Engine({ dim: 2 })
  b.upsertItems(['x', 'y'], [[1, 0], [0, 1]])
  a.similar('t1', 2)
  const text = metricsText({ catalog: a, sessions: b }, { pid: true })
  const helps = text.split('\n').filter((l) => l.startsWith('# HELP')).map((l) => l.split(' ')[2])
  assert.equal(new Set(helps).size, helps.length)
  assert.match(text, new RegExp(`embedrec_items\\{engine="sessions",pid="${process.pid}"\\} 2\\n`))
  assert.match(text, /embedrec_op_duration_seconds_bucket\{engine="catalog",pid="\d+",op="similar",le="\+Inf"\} 1\n/)
  assert.throws(() => metricsText({ '': a }), { code: 'INVALID_INPUT', message: /engines\[0\]/ })
  assert.throws(() => metricsText({ x: 'no' }), { code: 'INVALID_INPUT', message: /engines\["x"\]/ })
  assert.throws(() => metricsText({ x: a }, { pids: true }), { code: 'INVALID_INPUT', message: /pids/ })
})

test('upsertItemsAsync and addInteractionsAsync leave the event loop free and equal the sync calls', async () => {
  const n = 20000
  const dim = 32
  const vectors = new Float32Array(n * dim).map((_, i) => Math.sin(i * 0.37) + (i % dim === 0 ? 1 : 0))
  const ids = Array.from({ length: n }, (_, i) => `t${i}`)
  const a = new Engine({ dim, threads: 2 })
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  await a.upsertItemsAsync(ids, vectors, { tags: ids.map((_, i) => [i % 2 ? 'odd' : 'even']) })
  clearInterval(timer)
  assert.ok(ticks > 0, 'the event loop ran while the items were inserted')
  const b = new Engine({ dim, threads: 2 })
  b.upsertItems(ids, vectors, { tags: ids.map((_, i) => [i % 2 ? 'odd' : 'even']) })
  assert.equal(a.size, n)
  const users = Array.from({ length: 3000 }, (_, i) => `u${i % 300}`)
  const items = Array.from({ length: 3000 }, (_, i) => `t${(i * 7919) % n}`)
  await a.addInteractionsAsync(users, items)
  b.addInteractions(users, items)
  assert.deepEqual(a.recommend('u7', 5, { filter: { tagsAny: ['odd'] } }), b.recommend('u7', 5, { filter: { tagsAny: ['odd'] } }))
  await assert.rejects(a.upsertItemsAsync(['x'], [[1, 2]]), { code: 'DIMENSION_MISMATCH' })
  await assert.rejects(a.addInteractionsAsync(['u1'], ['t1'], [-1]), { code: 'INVALID_INPUT', message: /weight/ })
  await assert.rejects(a.upsertItemsAsync(['x'], null, { tag: [['y']] }), { code: 'INVALID_INPUT', message: /tag/ })
})
