// Package entry point: the generated napi loader (index.js) plus one speed-up. Batch calls
// fetch flat arrays from the native side and build the `{ id, score }` objects here, in
// JavaScript, where V8 creates them far faster than napi can. Results and types are the same
// as the native `searchBatch` / `recommendBatch` declared in index.d.ts.
'use strict'
// The prebuilt binaries this package version ships, as optional dependencies.
const PREBUILT = ['linux-x64-gnu']

function load() {
  try {
    return require('./index.js')
  } catch (e) {
    const here = `${process.platform}-${process.arch}`
    throw new Error(
      `embedrec: no native binary could be loaded on ${here}. Prebuilt binaries exist for ` +
        `${PREBUILT.join(', ')} (package embedrec-<platform>, an optional dependency: it is ` +
        'missing when optional dependencies were omitted, e.g. npm install --omit=optional, ' +
        'or when node_modules was copied from another platform). Elsewhere, build from ' +
        `source with Rust (README, "Install"). Loader said: ${e.message.split('\n')[0]}`,
      { cause: e },
    )
  }
}

const native = load()
const { Engine } = native

function rows(flat) {
  const out = new Array(flat.counts.length)
  const { ids, scores } = flat
  let o = 0
  for (let i = 0; i < out.length; i++) {
    const n = flat.counts[i]
    const row = new Array(n)
    for (let j = 0; j < n; j++) row[j] = { id: ids[o + j], score: scores[o + j] }
    out[i] = row
    o += n
  }
  return out
}

Engine.prototype.searchBatch = async function searchBatch(queries, k, filter) {
  return rows(await this.searchBatchFlat(queries, k, filter))
}
Engine.prototype.recommendBatch = async function recommendBatch(userIds, k, options) {
  return rows(await this.recommendBatchFlat(userIds, k, options))
}

module.exports = native
