/**
 * HTTP workers run as JavaScript even when the gateway runs from its TypeScript sources
 * (npm start, the tests). Node strips types per thread: every worker would load the type
 * stripper (a WebAssembly module) and strip its whole module graph again, which costs
 * about 10 MB of RSS per worker (bench:memory: 16 workers 569 MB from src, 410 MB from
 * the compiled package). So the main thread strips the worker's graph once, with Node's
 * own stripper (module.stripTypeScriptTypes, positions kept so stack traces' line and
 * column numbers match the .ts files; sourceUrlOf maps a copy's URL back to its source), into node_modules/.cache/metricstream-worker-js/
 * <hash of the sources>/, rewrites the relative `.ts` specifiers to `.js`, and the
 * workers start from there. Bare imports (msgpackr...) resolve from the enclosing
 * node_modules as before. The compiled package (dist/) already is JavaScript: unchanged.
 */
import { createHash, randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Changes when the copy's format does, so an older copy is never reused. */
const FORMAT = 'metricstream-worker-js 3';

/** Relative .ts specifiers of static imports, re-exports and dynamic imports. */
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+?)\.ts'/g;

/** The .ts files `entry` reaches through relative imports, itself first. */
function moduleGraph(entry: string): Map<string, string> {
  const files = new Map<string, string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    const source = readFileSync(file, 'utf8');
    files.set(file, source);
    for (const m of source.matchAll(SPECIFIER)) todo.push(path.resolve(path.dirname(file), m[2] + '.ts'));
  }
  return files;
}

/** The nearest directory named node_modules at or above `dir`, or undefined. */
function nodeModulesAbove(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules');
    if (existsSync(candidate)) return candidate;
    if (path.dirname(d) === d) return undefined;
  }
}

/** Node's stripper, without the one-time ExperimentalWarning it prints on stderr. */
function strip(source: string): string {
  const emit = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes('stripTypeScriptTypes')) return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return module.stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    process.emitWarning = emit;
  }
}

/**
 * The URL a worker should start from: `url` itself unless it is a .ts file, else the
 * JavaScript copy of its module graph (made on first use, shared by every gateway started
 * from the same sources). The copy goes to node_modules/.cache, or where that is not
 * writable (a container running as its own user) to the temporary directory, with a
 * `node_modules` link to the project's so bare imports resolve. `caches` is for tests.
 * Throws when no copy can be made; the caller falls back to `url`.
 */
export function workerModuleUrl(url: URL, caches?: string[]): URL {
  if (!url.pathname.endsWith('.ts')) return url;
  const entry = fileURLToPath(url);
  const nodeModules = nodeModulesAbove(path.dirname(entry));
  if (nodeModules === undefined) throw new Error(`no node_modules above ${entry}`);
  const root = path.dirname(nodeModules);
  const files = moduleGraph(entry);
  const hash = createHash('sha256').update(FORMAT).update(root).update('\0');
  // Code-unit order, not localeCompare: a collator loads ICU data (2.6 MB RSS) for nothing.
  for (const [file, source] of [...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) hash.update(path.relative(root, file)).update('\0').update(source).update('\0');
  const name = hash.digest('hex').slice(0, 16);
  const candidates = caches ?? cacheCandidates(nodeModules);
  let failure: unknown;
  for (const cache of candidates) {
    try {
      const dir = path.join(cache, name);
      if (!cache.startsWith(nodeModules + path.sep)) ownCacheOnly(cache);
      if (!existsSync(path.join(dir, 'complete'))) writeCopy(cache, dir, root, files, !cache.startsWith(nodeModules + path.sep) ? nodeModules : undefined);
      return pathToFileURL(path.join(dir, path.relative(root, entry)).replace(/\.ts$/, '.js'));
    } catch (e) {
      failure ??= e;
    }
  }
  throw failure;
}

/** Where copies (and the workers' compile cache) may go, in order of preference. */
function cacheCandidates(nodeModules: string | undefined): string[] {
  const own = path.join(os.tmpdir(), `metricstream-worker-js-${process.getuid?.() ?? 0}`);
  return nodeModules === undefined ? [own] : [path.join(nodeModules, '.cache', 'metricstream-worker-js'), own];
}

/**
 * A directory for Node's compile cache of the modules started from `url` (the workers'
 * entry; worker-memory.ts says why), beside the JavaScript copies: node_modules/.cache,
 * else this user's private directory under the temporary directory; undefined when
 * neither is writable (the workers then compile their modules as before). The cache is
 * V8 code for our own modules: it gets the same trust as the copies. `caches` is for tests.
 */
export function compileCacheDir(url: URL, caches?: string[]): string | undefined {
  const nodeModules = url.protocol === 'file:' ? nodeModulesAbove(path.dirname(fileURLToPath(url))) : undefined;
  for (const cache of caches ?? cacheCandidates(nodeModules)) {
    try {
      if (nodeModules === undefined || !cache.startsWith(nodeModules + path.sep)) ownCacheOnly(cache);
      const dir = path.join(cache, 'compile-cache');
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      accessSync(dir, constants.W_OK);
      return dir;
    } catch {
      // The next candidate, or no cache.
    }
  }
  return undefined;
}

/**
 * A cache outside the project (the shared temporary directory) is used only if this user
 * made it and nobody else can write to it: code found there is run by the gateway.
 */
function ownCacheOnly(cache: string): void {
  mkdirSync(cache, { recursive: true, mode: 0o700 });
  const st = statSync(cache);
  const uid = process.getuid?.();
  if ((uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) throw new Error(`${cache} is not this user's private directory`);
}

/** Writes the stripped copy of `files` to `dir`, aside first and renamed into place. */
function writeCopy(cache: string, dir: string, root: string, files: Map<string, string>, linkNodeModules: string | undefined): void {
  // Gateways starting at once never see half a copy.
  const temp = path.join(cache, `.tmp-${process.pid}-${randomUUID().slice(0, 8)}`);
  try {
    writeFileSync(path.join(mkdirP(temp), 'package.json'), '{"type":"module"}\n');
    if (linkNodeModules !== undefined) symlinkSync(linkNodeModules, path.join(temp, 'node_modules'), 'dir');
    for (const [file, source] of files) {
      const out = path.join(temp, path.relative(root, file)).replace(/\.ts$/, '.js');
      mkdirP(path.dirname(out));
      writeFileSync(out, strip(source).replace(SPECIFIER, (_m, lead: string, spec: string) => `${lead}'${spec}.js'`));
    }
    writeFileSync(path.join(temp, 'complete'), '');
    try {
      renameSync(temp, dir);
    } catch (e) {
      // Another gateway put the same copy there first: use it.
      if (!existsSync(path.join(dir, 'complete'))) throw e;
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * The source .ts URL of a file in the JavaScript copy (same line and column), for reports
 * that name code by URL (npm run profile); any other URL is returned as is.
 */
export function sourceUrlOf(url: string): string {
  const m = /^(file:\/\/.*)\/node_modules\/\.cache\/metricstream-worker-js\/[0-9a-f]{16}\/(.*)\.js$/.exec(url);
  return m ? `${m[1]}/${m[2]}.ts` : url;
}

function mkdirP(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}
