// Smoke test of the installed npm packages through require (CommonJS). Run by
// scripts/test-packages.sh in a fresh npm project with no Rust toolchain on PATH.
'use strict'
const assert = require('node:assert')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Engine, metricsText, simdLevel } = require('embedrec')

async function main() {
  assert.ok(require.resolve('embedrec').includes('node_modules'))
  const ids = Array.from({ length: 500 }, (_, i) => `track-${i}`)
  const vectors = new Float32Array(500 * 16).map((_, i) => Math.sin(i * 12.9898) * 43758.5453 % 1)
  const engine = new Engine({ dim: 16, metric: 'cosine' })
  await engine.upsertItemsAsync(ids, vectors, { tags: ids.map((_, i) => [i % 2 ? 'rock' : 'jazz']) })
  const hits = engine.similar('track-1', 5, { tagsAny: ['rock'] }, { withMetadata: true })
  assert.equal(hits.length, 5)
  assert.ok(hits.every((h) => h.tags[0] === 'rock'))
  const users = Array.from({ length: 2000 }, (_, i) => `u${i % 50}`)
  const items = users.map((_, i) => ids[(i * 7) % 500])
  await engine.addInteractionsAsync(users, items)
  await engine.fit('als', { factors: 8, iterations: 3 })
  const recs = engine.recommend('u1', 10)
  assert.equal(recs.length, 10)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'embedrec-smoke-'))
  const file = path.join(dir, 'smoke.embedrec')
  await engine.save(file)
  const again = Engine.open(file, { readOnly: true })
  assert.deepStrictEqual(again.recommend('u1', 10), recs)
  fs.rmSync(dir, { recursive: true })
  assert.ok(metricsText({ smoke: engine }).includes('embedrec_cache_hits_total'))
  console.log(`node smoke (require) ok: simd ${simdLevel()}, node ${process.version}`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
