/**
 * `npm run profile -- [options]`: profiles every gateway thread under load and prints the
 * path of the resulting index.html. Exit 0 on success, 1 when the run failed (message on
 * stderr), 2 on a usage error.
 */
import { UsageError } from '../cli/args.ts';
import { parseProfileArgs, PROFILE_USAGE, type ProfileOptions } from './args.ts';
import { runProfile } from './run-profile.ts';

let options: ProfileOptions | undefined;
try {
  options = parseProfileArgs(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof UsageError)) throw e;
  process.stderr.write(`profile: ${e.message}\n\n${PROFILE_USAGE}\n`);
  process.exit(2);
}
if (options === undefined) {
  process.stdout.write(`${PROFILE_USAGE}\n`);
  process.exit(0);
}

// First Ctrl-C/SIGTERM ends the load early and still writes the profile; a second one quits.
const interrupt = new AbortController();
let signals = 0;
const onSignal = (signal: NodeJS.Signals) => {
  if (++signals > 1) process.exit(130);
  process.stderr.write(`profile: ${signal}: ending the load early (again to quit without a profile)\n`);
  interrupt.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

try {
  // Progress on stderr: stdout carries only the index.html path, for scripts.
  const result = await runProfile(options, (line) => process.stderr.write(`profile: ${line}\n`), interrupt.signal);
  process.stderr.write(`profile: summary in ${result.summaryMd}\n`);
  process.stdout.write(`${result.indexHtml}\n`);
} catch (e) {
  process.stderr.write(`profile failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
