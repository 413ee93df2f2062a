/**
 * The peer a Node user would write instead of metricstream's Kafka mode: an HTTP server
 * that validates the body and calls kafkajs `producer.send` once per request, answering
 * 200 with the broker's offset. `--cluster N` runs N such processes with node:cluster,
 * one producer each (the usual way to use more cores).
 *
 *   client ──HTTP──▶ http.createServer ──producer.send (1 record)──▶ Kafka
 *                    (1 thread, or N cluster processes sharing the port)
 *
 * Same request validation, partition rule and value encoding as the gateway, so the
 * benchmark compares architectures, not amounts of work.
 */
import cluster from 'node:cluster';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { partitionFor } from '../../src/records/partitioner.ts';
import { CONTENT_TYPE_NAMES } from '../../src/sink/sink.ts';
import { BadRequest, bodyFormat, parseMetricsBody } from '../../src/workers/metrics-body.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8091' },
    host: { type: 'string', default: '127.0.0.1' },
    brokers: { type: 'string' },
    topic: { type: 'string', default: 'metrics' },
    acks: { type: 'string', default: 'all' },
    partitions: { type: 'string', default: '4' },
    cluster: { type: 'string' },
  },
});
if (!values.brokers) throw new Error('--brokers host:port[,...] is required');
const brokers = values.brokers.split(',');
const acks = values.acks === 'all' ? -1 : Number(values.acks);
const partitions = Number(values.partitions);
const processes = Number(values.cluster ?? 0);

if (processes > 0 && cluster.isPrimary) {
  // The primary binds first so port 0 resolves once; workers share its listening socket.
  const forks = Array.from({ length: processes }, () => cluster.fork());
  let listening = 0;
  let port = 0;
  cluster.on('listening', (_w, address) => {
    port = address.port;
    if (++listening === processes) console.log(`peer-cluster listening on http://${values.host}:${port} processes=${processes}`);
  });
  const stop = () => {
    for (const f of forks) f.process.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const kafka = new Kafka({ clientId: 'peer-kafkajs', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ allowAutoTopicCreation: true });
  await producer.connect();
  const server = http.createServer((req, res) => {
    const answer = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const clientId = req.headers.authorization;
    const format = bodyFormat(req.headers['content-type']);
    if (req.method !== 'POST' || !clientId || !format) {
      req.resume();
      return answer(400, '{"error":"POST /metrics with Authorization and a JSON or msgpack body"}');
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const parsed = parseMetricsBody(Buffer.concat(chunks), format, 'msgpack');
        const key = Buffer.from(clientId);
        const partition = partitionFor(key, partitions);
        const [meta] = await producer.send({
          topic: values.topic!,
          acks,
          messages: [{ key, value: Buffer.from(parsed.value), partition, headers: { 'content-type': CONTENT_TYPE_NAMES[parsed.contentType] }, timestamp: String(Date.now()) }],
        });
        answer(200, `{"accepted":${parsed.count},"partition":${partition},"offset":${meta?.baseOffset ?? -1}}`);
      } catch (e) {
        if (e instanceof BadRequest) answer(400, JSON.stringify({ error: e.message }));
        else answer(503, JSON.stringify({ error: (e as Error).message }));
      }
    });
  });
  server.listen({ port: Number(values.port), host: values.host }, () => {
    const address = server.address();
    if (processes === 0 && typeof address === 'object' && address) {
      console.log(`peer-kafkajs listening on http://${values.host}:${address.port}`);
    }
  });
  const stop = () => server.close(() => void producer.disconnect().then(() => process.exit(0)));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
