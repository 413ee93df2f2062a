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
