// Compiled with `tsc --strict` against the generated index.d.ts (types must be precise).
import { Engine, SearchHit, EngineStats } from '../index'

async function main(): Promise<void> {
  const e: Engine = new Engine({ dim: 2, metric: 'cosine', cacheTtl: 60 })
  e.upsertItems(['a', 'b'], new Float32Array([1, 0, 0, 1]), { tags: [['x'], ['y']], attributes: [{ year: 1 }, { year: 2 }] })
  const hits: SearchHit[] = e.similar('a', 1, { tagsAny: ['y'], ranges: [{ attribute: 'year', min: 0 }] })
  const batch: SearchHit[][] = await e.searchBatch([[1, 0]], 1)
  const loaded: Engine = await Engine.load('/tmp/x.embedrec').catch(() => e)
  await e.save('/tmp/x.embedrec')
  const s: EngineStats = e.stats()
  const n: number = hits.length + batch.length + loaded.size + s.cache.hitRate
  void n
}
void main
