import net from 'node:net';
import { readFileSync } from 'node:fs';
import { startGateway, tempDir } from './support/gateway-process.ts';
const N = Number(process.argv[2] ?? 4000);
const mode = process.argv[3] ?? 'idle';
const rss = (pid: number) => Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) >> 10;
const g = await startGateway(['--workers', process.env.PROBE_WORKERS ?? '2', '--data-dir', await tempDir()]);
const before = rss(g.proc.pid!);
const socks: net.Socket[] = [];
let closed = 0;
for (let i = 0; i < N; i++) {
  const s = net.connect(g.port, '127.0.0.1');
  s.on('error', () => {});
  s.on('close', () => closed++);
  if (mode === 'partial') s.write('POST /metrics HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: c' + i + '\r\ncontent-length: 1000000\r\n\r\n' + ' '.repeat(60000));
  socks.push(s);
  if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50));
}
await new Promise((r) => setTimeout(r, 3000));
const held = rss(g.proc.pid!);
const res = await fetch(`http://127.0.0.1:${g.port}/metrics`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'ok' }, body: JSON.stringify({ metrics: [{ name: 'a', value: 1 }] }) });
console.log(mode, N, 'rss before', before, 'with connections', held, 'closed by server', closed, 'valid request', res.status);
for (const s of socks) s.destroy();
await new Promise((r) => setTimeout(r, 1000));
console.log('after close', rss(g.proc.pid!));
await g.stop('SIGKILL');
