import { spawnSync } from 'node:child_process';
import { pack } from 'msgpackr';
import { LogSink } from './src/log/log-sink.ts';
import { partitionFor } from './src/records/partitioner.ts';
import { ContentType } from './src/sink/sink.ts';
import type { SinkRecord } from './src/sink/sink.ts';
import { tempDir, ROOT } from './test/support/gateway-process.ts';
import { startVictoriaMetrics } from './test/support/stores.ts';
const n = Number(process.argv[2] ?? 2500), k = Number(process.argv[3] ?? 100);
const dataDir = await tempDir('ck-prof-');
const sink = new LogSink({ dataDir, partitions: 4 });
await sink.open();
const base = Date.now() - 3_600_000;
for (let from = 0; from < n; from += 500) {
  const batch: SinkRecord[] = [];
  for (let i = from; i < Math.min(n, from + 500); i++) {
    const key = Buffer.from(`client-${i % 64}`);
    const metrics = Array.from({ length: k }, (_, j) => ({ name: 'bench_drain', value: i, timestamp: base + i, tags: { client: `c${i % 64}`, j: String(j), run: 'p' } }));
    batch.push({ partition: partitionFor(key, 4), key, value: pack({ metrics }), timestamp: base + i, contentType: ContentType.msgpack });
  }
  await sink.append(batch);
}
await sink.close();
const vm = await startVictoriaMetrics(await tempDir('ck-prof-vm-'));
const t = performance.now();
const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir=/tmp/ckprof', '--import', './src/main/require-node.mjs', 'src/consumer/cli.ts', '--data-dir', dataDir, '--group', 'p', '--from-beginning', '--exit-at-end', '--sink', 'remote-write', '--sink-url', vm.writeUrl, '--log-level', 'warn'], { cwd: ROOT, encoding: 'utf8' });
console.log('status', r.status, r.stderr.slice(0, 500), 'wall s', ((performance.now() - t) / 1000).toFixed(2));
await vm.destroy();
