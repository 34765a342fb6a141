// Smoke test of the installed npm packages through import (ES modules).
import assert from 'node:assert'
import { Engine, holdoutSplit } from 'embedrec'

const engine = new Engine({ dim: 2 })
engine.upsertItems(['a', 'b', 'c'], [[1, 0], [0.9, 0.1], [0, 1]])
assert.deepStrictEqual(engine.search([1, 0], 2).map((h) => h.id), ['a', 'b'])
const { train, test } = holdoutSplit({ userIds: ['u', 'u', 'u', 'u', 'u'], itemIds: ['a', 'b', 'c', 'a', 'b'] }, { seed: 1 })
assert.equal(train.userIds.length + test.userIds.length, 5)
console.log('node smoke (import) ok')
