/**
 * `npm run hash-token [-- TOKEN]`: prints the auth file entry (`sha256:<hex>`) for a
 * token. Without an argument it reads the token from stdin (so it stays out of the shell
 * history and `ps`); with `--new` it makes a random token and prints both.
 */
import { readFileSync } from 'node:fs';
import { hashToken, newToken } from './token-hash.ts';

const args = process.argv.slice(2);
if (args[0] === '-h' || args[0] === '--help') {
  process.stdout.write(
    'Usage: npm run hash-token -- [TOKEN | --new]\n' +
      '  TOKEN   print sha256:<hex> of TOKEN for the auth file\n' +
      '  --new   make a random token, print the token and its entry\n' +
      '  (none)  read the token from stdin (one line)\n',
  );
} else if (args[0] === '--new') {
  const token = newToken();
  process.stdout.write(`token: ${token}\nentry: ${hashToken(token)}\n`);
} else {
  const token = args[0] ?? readFileSync(0, 'utf8').replace(/\r?\n$/, '');
  if (token === '') {
    process.stderr.write('metricstream hash-token: empty token\n');
    process.exit(2);
  }
  process.stdout.write(`${hashToken(token)}\n`);
}
