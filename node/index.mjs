// ES module entry point: `import { Engine } from 'embedrec'`. The native loader is CommonJS
// (lib.js), whose exports Node cannot list statically, so they are named here one by one
// (test/esm.test.mjs checks that none is missing).
import native from './lib.js'

export const {
  Engine,
  ShardedEngine,
  forgetWorkerMetrics,
  gatherWorkerMetrics,
  holdoutSplit,
  leaveLastOut,
  metricsText,
  simdLevel,
  writeWorkerMetrics,
} = native
export default native
