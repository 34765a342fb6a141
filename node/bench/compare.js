// Node side of scripts/compare_bindings.sh: `node compare.js DIR` prints one JSON line.
const path = require('node:path')
const { Engine } = require('..')

const median = (v) => v.slice().sort((a, b) => a - b)[v.length >> 1]

async function main() {
  const dir = process.argv[2]
  const small = Engine.loadSync(path.join(dir, 'small.embedrec'))
  const big = Engine.loadSync(path.join(dir, 'big.embedrec'))
  small.recommend('u0', 10)
  const perCall = []
  for (let r = 0; r < 20; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < 1000; i++) small.recommend('u0', 10)
    perCall.push(Number(process.hrtime.bigint() - t) / 1e3 / 1000)
  }
  const users = Array.from({ length: 1000 }, (_, u) => `u${u}`)
  const batch = []
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint()
    await big.recommendBatch(users, 10)
    batch.push(Number(process.hrtime.bigint() - t) / 1e9)
  }
  const b = median(batch)
  console.log(JSON.stringify({ lang: 'node', cache_hit_call_us: +median(perCall).toFixed(3), recommend_batch_s: +b.toFixed(4), users_per_s: Math.round(1000 / b) }))
}
main()
