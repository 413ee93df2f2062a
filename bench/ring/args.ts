/**
 * Parses `npm run bench:ring` arguments. The usage text must be kept in step with the
 * flag rules below by hand.
 */
import { parseArgs } from 'node:util';
import { parseInteger, UsageError } from '../../src/cli/args.ts';

export interface BenchOptions {
  runs: number;
  durationMs: number;
  warmupMs: number;
  producers: number[];
  sizes: number[];
  ringBytes: number;
  /** Consumer linger before sleeping on the doorbell (ring and mutex-queue cases). */
  consumerSpinUs: number;
  fullWait: 'wake' | 'sleep';
  latencyMs: number;
  latencyRate: number;
  /** Baselines to run next to the ring (keys of the case table). */
  baselines: string[];
  encodeTable: boolean;
  outDir: string;
  quick: boolean;
}

export const BASELINE_KEYS = ['postMessageBytes', 'postMessageObject', 'mutexQueue', 'piscina'];

export const USAGE = `Usage: npm run bench:ring -- [options]

Throughput of N producer threads feeding one consumer thread through per-producer
SPSC rings (src/ring) against postMessage (bytes, object), one mutex-guarded shared
queue and piscina tasks; plus write->read latency at a paced rate. Prints tables and
writes bench/results/ring-<timestamp>.json and ring-latest.json.

Options:
  --runs N              measured runs per case; figures are medians (default 5)
  --duration-ms MS      length of each run; producers stop, then the consumer
                        drains (default 300)
  --warmup-ms MS        one discarded run before each case (default = duration)
  --producers LIST      producer counts, comma-separated (default 1,2,4,8,16)
  --sizes LIST          record payload bytes, multiples of 8 (default 64,256,1024)
  --ring-kib K          bytes of each producer's ring, in KiB (default 1024)
  --consumer-spin-us U  how long an idle ring consumer keeps looking before it
                        sleeps on the doorbell; 0 = sleep at once (default 50)
  --full-wait wake|sleep
                        what a ring producer does on a full ring after 4 spins:
                        sleep until the consumer frees space (wake) or sleep
                        5 us doubling to 1 ms (sleep); baselines always sleep
                        (default wake)
  --latency-ms MS       length of each latency run (default 2000)
  --latency-rate R      paced records/s of the one latency producer (default 100000)
  --baselines LIST      subset of ${BASELINE_KEYS.join(',')}
                        (default all; "none" for the ring alone)
  --out DIR             where the JSON goes (default bench/results)
  --quick               smoke run: 1 and 4 producers, 64 B, 150 ms runs, short
                        latency runs, no encode table
  -h, --help            show this help`;

export { UsageError };

function positiveInt(flag: string, value: string): number {
  return parseInteger(flag, value, 1);
}

function intList(flag: string, value: string): number[] {
  return value.split(',').map((v) => positiveInt(flag, v.trim()));
}

/** Parses argv (without node and script): options, or null for --help. Throws UsageError. */
export function parseBenchArgs(argv: string[]): BenchOptions | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        runs: { type: 'string' },
        'duration-ms': { type: 'string' },
        'warmup-ms': { type: 'string' },
        producers: { type: 'string' },
        sizes: { type: 'string' },
        'ring-kib': { type: 'string' },
        'consumer-spin-us': { type: 'string' },
        'full-wait': { type: 'string' },
        'latency-ms': { type: 'string' },
        'latency-rate': { type: 'string' },
        baselines: { type: 'string' },
        out: { type: 'string' },
        quick: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return null;
  const quick = values.quick ?? false;
  const durationMs = values['duration-ms'] ? positiveInt('duration-ms', values['duration-ms']) : quick ? 150 : 300;
  const options: BenchOptions = {
    runs: values.runs ? positiveInt('runs', values.runs) : 5,
    durationMs,
    warmupMs: values['warmup-ms'] ? positiveInt('warmup-ms', values['warmup-ms']) : durationMs,
    producers: values.producers ? intList('producers', values.producers) : quick ? [1, 4] : [1, 2, 4, 8, 16],
    sizes: values.sizes ? intList('sizes', values.sizes) : quick ? [64] : [64, 256, 1024],
    ringBytes: (values['ring-kib'] ? positiveInt('ring-kib', values['ring-kib']) : 1024) * 1024,
    consumerSpinUs: values['consumer-spin-us'] ? parseInteger('consumer-spin-us', values['consumer-spin-us'], 0) : 50,
    fullWait: 'wake',
    latencyMs: values['latency-ms'] ? positiveInt('latency-ms', values['latency-ms']) : quick ? 300 : 2000,
    latencyRate: values['latency-rate'] ? positiveInt('latency-rate', values['latency-rate']) : 100_000,
    baselines: BASELINE_KEYS,
    encodeTable: !quick,
    outDir: values.out ?? 'bench/results',
    quick,
  };
  if (values.baselines !== undefined) {
    const list = values.baselines === 'none' ? [] : values.baselines.split(',').map((s) => s.trim());
    for (const key of list) {
      if (!BASELINE_KEYS.includes(key)) throw new UsageError(`--baselines: unknown "${key}" (known: ${BASELINE_KEYS.join(', ')})`);
    }
    options.baselines = list;
  }
  const fullWait = values['full-wait'];
  if (fullWait !== undefined) {
    if (fullWait !== 'wake' && fullWait !== 'sleep') throw new UsageError(`--full-wait must be wake or sleep, got "${fullWait}"`);
    options.fullWait = fullWait;
  }
  for (const p of options.producers) if (p > 64) throw new UsageError(`--producers: at most 64, got ${p}`);
  for (const s of options.sizes) {
    if (s < 16 || s % 8 !== 0) throw new UsageError(`--sizes: each size must be a multiple of 8, at least 16, got ${s}`);
    // The ring refuses records over capacity / 8 (header included).
    if (s + 8 > options.ringBytes / 8) throw new UsageError(`--sizes: ${s} B does not fit a ${options.ringBytes / 1024} KiB ring (max ${options.ringBytes / 8 - 8} B)`);
  }
  if (options.ringBytes & (options.ringBytes - 1)) throw new UsageError('--ring-kib must be a power of two');
  return options;
}
