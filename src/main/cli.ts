/**
 * `npm start -- [options]` (or bin/metricstream): parses the command line (completed from
 * METRICSTREAM_* variables and --config FILE), starts the gateway, prints where it
 * listens, and turns SIGTERM/SIGINT into a draining shutdown.
 */
import pino from 'pino';
import { UsageError } from '../cli/args.ts';
import { onStopSignals } from '../cli/signals.ts';
import { parseConfigLayers, USAGE, type GatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

let config: GatewayConfig | undefined;
try {
  config = parseConfigLayers(process.argv.slice(2), process.env);
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`metricstream: ${e.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (config === undefined) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

// libuv's pool (4 threads by default) runs every write and fdatasync: with more partitions
// than threads, one commit's fdatasyncs queue behind each other. Set before any async I/O.
process.env.UV_THREADPOOL_SIZE ??= String(Math.min(128, config.partitions + 4));

const logger = pino({ level: config.logLevel, base: { pid: process.pid } });

try {
  const gateway = await startGateway(config, logger);
  // Handlers before the listening line: a script or service manager that read it may
  // signal at once, and a default SIGTERM would end the gateway without its drain.
  let stopping = false;
  onStopSignals(
    (signal) => {
      stopping = true;
      void gateway.shutdown(signal);
    },
    (signal) => {
      logger.warn({ signal }, 'second signal: exiting without finishing the drain');
      process.exit(130);
    },
  );
  // Reload credentials and certificates; without a handler SIGHUP would end the process.
  process.on('SIGHUP', () => {
    if (!stopping) void gateway.reload();
  });
  const where = config.mode === 'file' ? `data-dir=${config.dataDir}` : `brokers=${config.brokers.join(',')} topic=${config.topic}`;
  // The start line is printed whatever --log-level says: scripts wait for it.
  logger.child({}, { level: 'info' }).info(
    { port: gateway.port, adminPort: gateway.adminPort, workers: config.workers, maxConnections: config.maxConnections, sink: gateway.sink.name, acks: config.acks },
    `metricstream listening on ${config.tlsCert !== undefined ? 'https' : 'http'}://${config.host}:${gateway.port} workers=${config.workers} sink=${gateway.sink.name} ${where} acks=${config.acks === -1 ? 'all' : config.acks}` +
      (gateway.adminPort !== undefined ? ` metrics=http://${config.adminHost}:${gateway.adminPort}/metrics` : ''),
  );
  process.exitCode = await gateway.done;
  // Shutdown is complete: everything was answered and reported. A client library that
  // gave up on a silent broker (kafkajs's sockets and retry timers) must not keep the
  // process alive past the bound --flush-timeout promises; this timer fires only if
  // something still holds the event loop, after stdout had time to drain.
  setTimeout(() => process.exit(), 500).unref();
} catch (e) {
  logger.fatal({ err: e }, `metricstream could not start: ${(e as Error).message}`);
  process.exitCode = 1;
}
