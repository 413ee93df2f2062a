/**
 * Worker threads are started from a module URL, which tsc does not rewrite the way it
 * rewrites import specifiers: this names a sibling module with the caller's own extension,
 * `.ts` when the sources run (npm scripts, tests) and `.js` in the compiled package
 * (dist/), where Node cannot strip types because it sits in node_modules.
 */

/** `relative` (without extension) resolved against `base` (the caller's import.meta.url), with base's extension. */
export function siblingModuleUrl(relative: string, base: string): URL {
  const ext = new URL(base).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(relative + ext, base);
}
