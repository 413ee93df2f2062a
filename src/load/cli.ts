/**
 * `npm run load` entry point: parses flags, runs one load test and prints its summary
 * (a table, or one JSON object with --json). Ctrl-C ends the run early and still prints
 * what was measured; a second Ctrl-C kills the process.
 */
import { parseLoadArgs, UsageError, USAGE } from './args.ts';
import { formatSummary } from './format.ts';
import { runLoad } from './run-load.ts';

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseLoadArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`load: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  const summary = await runLoad({
    ...parsed.options,
    // autocannon's bar only draws on a TTY; asking only then also keeps its
    // "Running ..." banner out of piped output.
    progress: process.stderr.isTTY === true,
    signal: abort.signal,
  });
  process.stdout.write(parsed.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
  if (summary.responses === 0) {
    process.stderr.write(`load: no request was answered; is a server listening at ${summary.url}?\n`);
    return 1;
  }
  return 0;
}

process.exitCode = await main();
