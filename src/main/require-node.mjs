// Loaded with `node --import` before any TypeScript entry point: Node < 22.18 cannot
// strip types, so without this check an old Node fails with an obscure parse error.
// Plain JavaScript on purpose: it must run on the old Node it rejects.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `metricstream needs Node >= 22.18 (it runs TypeScript natively and uses reusePort); ` +
      `this is Node ${process.versions.node} at ${process.execPath}.\n` +
      `Run it through npm (npm start, npm test, npm run ...): \`npm install\` installs Node 24 ` +
      `into node_modules/.bin and npm scripts use it.\n`,
  );
  process.exit(1);
}
