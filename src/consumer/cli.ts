/**
 * `npm run consume -- --data-dir ./data --from-beginning --exit-at-end [--max-records N]`
 *
 * Prints the partition log as JSON lines, one per record:
 * {"partition":0,"offset":12,"key":"client-1","timestamp":1700000000000,"value":{...}}
 * A value that cannot be decoded is printed as "valueBase64" with a "valueError".
 * Exit: 0 done (or interrupted), 1 the log could not be read, 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { jsonReplacer, readPlain } from './plain-reader.ts';
import type { ConsumedRecord } from './plain-reader.ts';

const USAGE = `Usage: npm run consume -- [options]

Prints the records of a metricstream partition log as JSON lines
{"partition","offset","key","timestamp","value"}. Per-partition order holds.

Options:
  --data-dir <dir>     the log's data dir (default ./data)
  --from-beginning     start at the earliest retained record (default: only new records)
  --exit-at-end        exit once everything written so far is printed (default: follow)
  --max-records <n>    exit after n records
  -h, --help           show this help
`;

function usageError(message: string): never {
  process.stderr.write(`consume: ${message}\nTry --help.\n`);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        'data-dir': { type: 'string', default: './data' },
        'from-beginning': { type: 'boolean', default: false },
        'exit-at-end': { type: 'boolean', default: false },
        'max-records': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    return usageError((err as Error).message);
  }
}

function line(r: ConsumedRecord): string {
  const out: Record<string, unknown> = {
    partition: r.partition,
    offset: r.offset,
    key: r.key,
    timestamp: r.timestamp,
  };
  if (r.valueError === undefined) {
    out.value = r.value;
  } else {
    out.valueBase64 = Buffer.from(r.rawValue ?? new Uint8Array(0)).toString('base64');
    out.valueError = r.valueError;
  }
  return JSON.stringify(out, jsonReplacer);
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    process.stdout.write(USAGE);
    return;
  }
  let maxRecords: number | undefined;
  if (args['max-records'] !== undefined) {
    maxRecords = Number(args['max-records']);
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 1) {
      usageError(`--max-records must be a positive integer, got "${args['max-records']}"`);
    }
  }

  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  process.once('SIGTERM', () => stop.abort());
  // `consume | head` closes the pipe early: that is a normal end, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });

  const records = readPlain({
    dataDir: args['data-dir'],
    fromBeginning: args['from-beginning'],
    follow: !args['exit-at-end'],
    maxRecords,
    signal: stop.signal,
    onSkipped: (p, from, count) =>
      process.stderr.write(
        `consume: partition ${p}: offsets ${from}..${from + count - 1} were deleted by retention; ` +
          `continuing at ${from + count}\n`,
      ),
  });
  for await (const batch of records) {
    let text = '';
    for (const r of batch) {
      text += line(r) + '\n';
      if (r.valueError !== undefined) {
        process.stderr.write(`consume: partition ${r.partition} offset ${r.offset}: ${r.valueError}\n`);
      }
    }
    if (!process.stdout.write(text)) {
      await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
    }
  }
}

main().catch((err: Error) => {
  process.stderr.write(`consume: ${err.message}\n`);
  process.exitCode = 1;
});
