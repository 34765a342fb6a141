// Compiled with `tsc --strict` against the generated index.d.ts (types must be precise).
import { Engine, SearchHit, EngineStats, ShardedEngine, ItemMetadata, Split, holdoutSplit } from '../index'

async function main(): Promise<void> {
  const e: Engine = new Engine({ dim: 2, metric: 'cosine', cacheTtl: 60 })
  e.upsertItems(['a', 'b'], new Float32Array([1, 0, 0, 1]), { tags: [['x'], ['y']], attributes: [{ year: 1 }, { year: 2 }] })
  const hits: SearchHit[] = e.similar('a', 1, { tagsAny: ['y'], ranges: [{ attribute: 'year', min: 0 }] })
  const batch: SearchHit[][] = await e.searchBatch([[1, 0]], 1)
  const loaded: Engine = await Engine.load('/tmp/x.embedrec').catch(() => e)
  await e.save('/tmp/x.embedrec')
  const s: EngineStats = e.stats()
  // Integer ids (numbers or BigInt) and interaction-only engines.
  const logOnly: Engine = new Engine({ dim: 0 })
  logOnly.addInteractions([1, BigInt(2)], [10, '11'])
  logOnly.upsertItems([10], null, { tags: [['x']] })
  await logOnly.fit('als', { factors: 4, iterations: 2 })
  const recs: SearchHit[] = logOnly.recommend(1, 5, { filter: { allowIds: [10, BigInt(11)] } })
  const id: string | number | bigint = recs.length > 0 ? recs[0].id : 0
  const factors = logOnly.itemFactors()
  logOnly.installFactors(factors.ids, factors.values, null, null, { regularization: 0.1 })
  void id
  // Item shards, in memory and from files.
  const set: ShardedEngine = await ShardedEngine.split(e, 2)
  const manifest: string = await ShardedEngine.splitTo(e, 2, '/tmp/embedrec-usage-shards')
  const opened: ShardedEngine = ShardedEngine.open(manifest, { threads: 1 })
  const shardHits: SearchHit[] = set.similar('a', 2).concat(opened.search([1, 0], 2, { tagsAny: ['x'] }))
  const rows: SearchHit[][] = await opened.recommendBatch([1], 2, { excludeSeen: false })
  void shardHits
  void rows
  // Metadata with hits, attribute updates, splits of one interactions object.
  const described: SearchHit[] = e.search([1, 0], 2, null, { withMetadata: true })
  const tags: string[] = described[0]?.tags ?? []
  e.updateAttributes(['a'], { attributes: { year: [2001] }, remove: ['plays'] })
  const meta: ItemMetadata[] = e.itemAttributes(['a'])
  const year: number | undefined = meta[0].attributes.year
  const split: Split = holdoutSplit({ userIds: ['u', 'u'], itemIds: ['a', 'b'] }, { seed: 1 })
  void [tags, year, split]
  const n: number = hits.length + batch.length + loaded.size + s.cache.hitRate + factors.width
  void n
}
void main
