/**
 * The node flags the gateway runs with, before its script on the command line: in
 * `npm start` (package.json), the bin scripts (bin/run-node.sh), and every tool here that
 * starts a gateway (bench:e2e, bench:memory, bench:commit-work, bench/attack.ts,
 * npm run profile, the tests). They must be on node's command line: V8 reads them when it creates the main
 * isolate, and set later (v8.setFlagsFromString in the preload) this one saved a third as
 * much. test/packaging/production-install.test.ts checks that the npm script and the bin
 * scripts carry exactly these.
 *
 * - `--single-threaded-gc`: V8 collects each isolate's garbage on the isolate's own thread,
 *   without parallel helper threads or concurrent marking. A gateway already runs one
 *   thread per HTTP worker, the owner and libuv's pool, and every one of them works per
 *   request; helpers only compete with them for the cores. Measured on the 2-core machine
 *   of the README (bench/ISSUE-15.md, twenty-third round): 16 workers idle 233–238 MB
 *   against 243–254 MB without it (`npm run bench:memory`, four alternating pairs), and in
 *   8 paired runs each of file, acks 1 the requests/s 1.00× at 1 metric and 1.03× at 100,
 *   the CPU per metric 0.98× and 0.97×, the p99 lower. On a machine with many idle cores the
 *   helpers could shorten a pause of the main thread; its heap is small (tens of MB).
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];
