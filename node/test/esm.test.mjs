// The package as an ES module: named imports work at run time (not only under tsc), and
// every export of the CommonJS entry point is also a named export here.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import * as esm from 'embedrec'
import { Engine, ShardedEngine } from 'embedrec'

const require = createRequire(import.meta.url)

test('named ES module imports work and match the CommonJS exports', async () => {
  const cjs = require('embedrec')
  // Test hooks (leading _) and the napi aliases (Js…) are not part of the API.
  const missing = Object.keys(cjs).filter((k) => !/^(_|Js)/.test(k) && !(k in esm))
  assert.deepEqual(missing, [])
  assert.equal(Engine, cjs.Engine)
  assert.equal(esm.default, cjs)
  const e = new Engine({ dim: 2 })
  e.upsertItems(['a', 'b', 'c'], [[1, 0], [0.9, 0.1], [0, 1]])
  const set = await ShardedEngine.split(e, 2)
  assert.deepEqual(set.similar('a', 2).map((h) => h.id), e.similar('a', 2).map((h) => h.id))
})
