// Loaded with `node --import` before any TypeScript entry point: Node < 22.18 cannot
// strip types, so without this check an old Node fails with an obscure parse error.
// Plain JavaScript on purpose: it must run on the old Node it rejects. The bin scripts also
// run it alone first (`node require-node.mjs`), before flags an old Node would not know.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `metricstream needs Node >= 22.18 (it runs TypeScript natively and uses reusePort); ` +
      `this is Node ${process.versions.node} at ${process.execPath}.\n` +
      `\`npm ci\` (or \`npm ci --omit=dev\` for production) installs Node 24 into node_modules/.bin; ` +
      `npm scripts (npm start, npm run consume, ...) and the bin scripts (metricstream, ` +
      `metricstream-consume) run on it. Or point METRICSTREAM_NODE at a Node >= 22.18.\n`,
  );
  process.exit(1);
}

// Node's compile cache for everything this process loads after this preload, enabled here
// because it runs before the first TypeScript module: with the cache warm, a start reads
// each module's stripped and compiled code instead of loading the type stripper and
// compiling (issue 15: `npm start -- --workers 16` about 25 MB less RSS; the workers get
// the same directory from src/main/worker-memory.ts). The directory is the one the
// workers' JavaScript copies use (src/main/worker-js.ts), in the nearest node_modules;
// without one, or where it cannot be written, nothing is cached. NODE_COMPILE_CACHE set by
// the user wins (Node enabled it already); NODE_DISABLE_COMPILE_CACHE turns it off.
if (process.env.NODE_COMPILE_CACHE === undefined && process.env.NODE_DISABLE_COMPILE_CACHE === undefined) {
  const { existsSync, mkdirSync } = process.getBuiltinModule('node:fs');
  const path = process.getBuiltinModule('node:path');
  for (let d = path.dirname(process.getBuiltinModule('node:url').fileURLToPath(import.meta.url)); ; d = path.dirname(d)) {
    if (existsSync(path.join(d, 'node_modules'))) {
      try {
        const cache = path.join(d, 'node_modules', '.cache', 'metricstream-worker-js', 'compile-cache');
        mkdirSync(cache, { recursive: true, mode: 0o700 });
        process.getBuiltinModule('node:module').enableCompileCache(cache);
      } catch {
        // Not writable (a read-only install): modules compile as they always did.
      }
      break;
    }
    if (path.dirname(d) === d) break;
  }
}
