/**
 * Configuration beyond flags, for every entry point that parses its flags with
 * node:util parseArgs: each flag can also come from an environment variable
 * (`<PREFIX><FLAG>`, `--data-dir` -> `METRICSTREAM_DATA_DIR`) or from a JSON config file
 * (`--config FILE` or `<PREFIX>CONFIG`, keys are flag names). Precedence, highest first:
 * command-line flag > environment > config file > the flag's default.
 *
 * It works by turning the environment and the file into flags placed before the command
 * line's own, for the options the command line did not set, so every flag (also one added
 * later) gets the same checks and messages whatever its source.
 */
import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './args.ts';

export interface LayerSources {
  /** Environment variable prefix, e.g. `METRICSTREAM_`. */
  envPrefix: string;
  env: NodeJS.ProcessEnv;
  /** The option naming the config file (default `config`); it must be one of the options. */
  configOption?: string;
}

export interface LayeredArgv {
  /** argv with the environment's and the file's settings in front, as flags. */
  argv: string[];
  /** Where each flag not given on the command line came from: `METRICSTREAM_WORKERS`, `config file x.json`. */
  origin: Map<string, string>;
}

/** `data-dir` -> `METRICSTREAM_DATA_DIR`. */
export function envName(prefix: string, flag: string): string {
  return prefix + flag.toUpperCase().replace(/-/g, '_');
}

function parseBoolean(source: string, text: string): boolean {
  const t = text.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(t)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(t)) return false;
  throw new UsageError(`${source}: "${text}" must be true or false (1/0)`);
}

/** Reads a JSON config file: an object whose keys are flag names (without dashes). */
export function readConfigFile(file: string, options: ParseArgsOptionsConfig, configOption: string): Record<string, string | boolean> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--${configOption} ${file}: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`--${configOption} ${file}: must hold a JSON object of flag names, e.g. {"workers": 4}`);
  }
  const out: Record<string, string | boolean> = {};
  for (const [key, value] of Object.entries(parsed)) {
    const opt = options[key];
    if (opt === undefined || key === 'help' || key === configOption) {
      throw new UsageError(`--${configOption} ${file}: "${key}" is not a flag (keys are flag names without dashes, e.g. "data-dir")`);
    }
    if (opt.type === 'boolean') {
      if (typeof value !== 'boolean') throw new UsageError(`--${configOption} ${file}: "${key}" must be true or false`);
      out[key] = value;
    } else {
      if (typeof value !== 'string' && typeof value !== 'number') {
        throw new UsageError(`--${configOption} ${file}: "${key}" must be a string or a number`);
      }
      out[key] = String(value);
    }
  }
  return out;
}

/**
 * Returns argv completed from the environment and the config file (see the module doc).
 * `--help` on the command line returns argv as it is. Throws UsageError for a bad file or
 * a boolean variable that is not true/false.
 */
export function layerArgv(argv: string[], options: ParseArgsOptionsConfig, sources: LayerSources): LayeredArgv {
  const configOption = sources.configOption ?? 'config';
  const origin = new Map<string, string>();
  // Which options the command line sets (strict: false: the real parse reports errors).
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const given = new Map<string, string | undefined>();
  for (const t of tokens) if (t.kind === 'option') given.set(t.name, t.value);
  if (given.has('help')) return { argv, origin };

  const configEnv = envName(sources.envPrefix, configOption);
  const configFile = given.get(configOption) ?? (sources.env[configEnv] || undefined);
  const file = configFile === undefined ? {} : readConfigFile(configFile, options, configOption);

  const front: string[] = [];
  for (const [name, opt] of Object.entries(options)) {
    if (name === 'help' || name === configOption || given.has(name)) continue;
    const variable = envName(sources.envPrefix, name);
    const fromEnv = sources.env[variable];
    let value: string | boolean | undefined;
    if (fromEnv !== undefined && fromEnv !== '') {
      value = opt.type === 'boolean' ? parseBoolean(variable, fromEnv) : fromEnv;
      origin.set(name, variable);
    } else if (name in file) {
      value = file[name];
      origin.set(name, `config file ${configFile}`);
    }
    if (value === undefined || value === false) continue;
    front.push(value === true ? `--${name}` : `--${name}=${value}`);
  }
  return { argv: [...front, ...argv], origin };
}

/** Appends where a flag's value came from to a UsageError about it ("--workers: ..." set by METRICSTREAM_WORKERS). */
export function explainOrigin(message: string, origin: Map<string, string>): string {
  const flag = /--([a-z][a-z0-9-]*)/.exec(message)?.[1];
  const from = flag === undefined ? undefined : origin.get(flag);
  return from === undefined ? message : `${message} (set by ${from})`;
}

/** The help text's paragraph on the environment and the config file. */
export function layersHelp(envPrefix: string, example: string, configOption = 'config'): string {
  return `Every flag can also be set in the environment as ${envPrefix}<FLAG> (upper case, dashes
as underscores: --${example} is ${envName(envPrefix, example)}; a switch takes true/false or 1/0),
or in a JSON file given with --${configOption} FILE (or ${envName(envPrefix, configOption)}) whose keys are flag
names: {"${example}": "..."}. Precedence: command-line flag > environment > config file > default.`;
}
