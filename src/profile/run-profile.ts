/**
 * One profiling run: start the gateway under --cpu-prof, load it for a while, stop it
 * cleanly so every thread writes its profile, then name, analyse and render the profiles
 * and write index.html, summary.md and load-summary.json next to them.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runLoad, type LoadSummary } from '../load/run-load.ts';
import type { ProfileOptions } from './args.ts';
import { analyzeProfile, buildCallTree, type CpuProfile } from './cpuprofile.ts';
import { renderFlameGraphHtml } from './flamegraph.ts';
import { PROJECT_ROOT, startProfiledGateway } from './profiled-gateway.ts';
import { renderIndexHtml, renderSummaryMarkdown, threadHeadline, type ThreadReport } from './report.ts';
import { nameThreadProfiles } from './thread-profiles.ts';
import { sourceUrlOf } from '../main/worker-js.ts';

export interface ProfileResult {
  dir: string;
  indexHtml: string;
  summaryMd: string;
  load: LoadSummary;
  threads: ThreadReport[];
}

/** A filesystem-safe UTC timestamp: 2026-11-23T11-42-05Z. */
export function profileTimestamp(date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
}

/**
 * Runs the whole profile and resolves with where it wrote. Rejects with a message fit for
 * the user when the gateway cannot start, answers nothing, or does not exit 0 on SIGTERM
 * (then no profiles are written), or answers no request with 2xx (then the report is
 * written first). `progress` receives one line per step. Aborting `signal` ends the load
 * early; the gateway is still stopped cleanly and the profile written.
 */
export async function runProfile(options: ProfileOptions, progress: (line: string) => void = () => {}, signal?: AbortSignal): Promise<ProfileResult> {
  const name = profileTimestamp();
  const dir = path.resolve(options.out ?? path.join(PROJECT_ROOT, 'profiles', name));
  await prepareEmptyDir(dir);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'metricstream-profile-'));
  let stopBroker: (() => Promise<void>) | undefined;
  try {
    let brokers = options.brokers;
    if (options.mode === 'kafka' && brokers === '') {
      const local = await startLocalKafka();
      brokers = local.bootstrap;
      stopBroker = local.stop;
      progress(`local mock Kafka at ${brokers}`);
    }
    const gatewayArgs = [
      '--workers', String(options.workers),
      '--port', '0',
      '--host', '127.0.0.1',
      '--admin-port', 'off',
      '--data-dir', dataDir,
      '--mode', options.mode,
      ...(options.mode === 'kafka' ? ['--brokers', brokers] : []),
    ];
    const gateway = await startProfiledGateway({ profileDir: dir, logFile: path.join(dir, 'gateway.log'), gatewayArgs });
    progress(`gateway pid ${gateway.pid} on port ${gateway.port}, ${options.workers} workers, ${options.mode} mode; loading for ${options.durationSeconds}s`);

    let load: LoadSummary;
    try {
      load = await runLoad({
        port: gateway.port,
        clients: options.connections,
        durationSeconds: options.durationSeconds,
        metricsPerRequest: options.metricsPerRequest,
        format: options.format,
        signal,
      });
    } catch (e) {
      await gateway.stop();
      throw e;
    }
    const interrupted = signal?.aborted === true;
    progress(`load done: ${load.responses} answers, ${load.succeeded} 2xx, ${load.requestsPerSecond} req/s; stopping the gateway`);
    if (load.succeeded < load.responses) progress(`warning: ${load.responses - load.succeeded} answers were not 2xx (${JSON.stringify(load.statusCodes)})`);
    // Interrupted from a terminal, the gateway got the same SIGINT: let its own drain run.
    const code = await gateway.stop({ graceMs: interrupted ? 1000 : 0 });
    if (code !== 0) {
      throw new Error(`gateway exited with ${code} after SIGTERM (expected 0), so its profiles are missing or partial:\n${gateway.tail()}`);
    }
    if (load.responses === 0) {
      throw new Error(`gateway answered no request during the load (errors ${load.errors}, timeouts ${load.timeouts}):\n${gateway.tail()}`);
    }

    const named = await nameThreadProfiles(dir, gateway.pid, gateway.workerThreads);
    const roles = named.map((t) => t.role);
    const missing = ['owner', ...Array.from({ length: options.workers }, (_, i) => `http-worker-${i}`)].filter((r) => !roles.includes(r));
    if (missing.length > 0) throw new Error(`no profile written for ${missing.join(', ')} (found: ${roles.join(', ') || 'none'}) in ${dir}`);

    const threads: ThreadReport[] = [];
    for (const t of named) {
      const profile = JSON.parse(await readFile(t.file, 'utf8')) as CpuProfile;
      // Workers run a JavaScript copy of their sources (src/main/worker-js.ts): the profile
      // (rewritten too, for DevTools) names the .ts files, whose lines and columns match.
      for (const node of profile.nodes) node.callFrame.url = sourceUrlOf(node.callFrame.url);
      await writeFile(t.file, JSON.stringify(profile));
      const analysis = analyzeProfile(profile, { topN: 10, projectRoot: PROJECT_ROOT });
      const flameGraph = `${t.role}.html`;
      const page = { title: `metricstream ${t.role} (thread ${t.threadId}), ${path.basename(dir)}`, headline: threadHeadline(analysis), indexHref: 'index.html' };
      await writeFile(path.join(dir, flameGraph), renderFlameGraphHtml(buildCallTree(profile, { projectRoot: PROJECT_ROOT }), page));
      threads.push({ role: t.role, threadId: t.threadId, flameGraph, profile: path.basename(t.file), analysis });
      progress(`${t.role}: ${flameGraph}`);
    }

    const report = {
      name: path.basename(dir),
      setup:
        `Gateway: --workers ${options.workers} --mode ${options.mode}${options.mode === 'file' ? ' (temporary data dir, default acks)' : ` --brokers ${options.brokers === '' ? '(local mock broker)' : brokers}`}; ` +
        `load: ${options.connections} connections for ${options.durationSeconds} s, ${options.metricsPerRequest} metric(s)/request, ${options.format} bodies; ` +
        `Node ${process.version}, ${os.availableParallelism()} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'}); load generator in the same machine.`,
      load,
      threads,
    };
    const indexHtml = path.join(dir, 'index.html');
    const summaryMd = path.join(dir, 'summary.md');
    await writeFile(path.join(dir, 'load-summary.json'), `${JSON.stringify(load, null, 2)}\n`);
    await writeFile(summaryMd, renderSummaryMarkdown(report));
    await writeFile(indexHtml, renderIndexHtml(report));
    if (load.succeeded === 0) {
      // Written anyway (the failing path may be what someone wants to see), but a
      // profile of a gateway that accepted nothing is not a profile of the gateway.
      const codes = Object.entries(load.statusCodes).map(([c, n]) => `${c}: ${n}`).join(', ') || 'none';
      throw new Error(`gateway accepted no request (HTTP statuses: ${codes}; errors ${load.errors}); its profiles are in ${dir}. Gateway log:\n${gateway.tail()}`);
    }
    return { dir, indexHtml, summaryMd, load, threads };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
    await stopBroker?.();
  }
}

/** Creates `dir`; refuses one holding files, whose old profiles would be mixed in. */
async function prepareEmptyDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const entries = await readdir(dir);
  if (entries.length > 0) throw new Error(`output folder ${dir} is not empty; give a new or empty --out`);
}

/**
 * Starts test/support/local-broker.ts's mock cluster. Imported only in kafka mode without
 * --brokers, so file-mode profiling never depends on kcat or the Kafka code loading.
 */
async function startLocalKafka(): Promise<{ bootstrap: string; stop: () => Promise<void> }> {
  const file = path.join(PROJECT_ROOT, 'test/support/local-broker.ts');
  if (!existsSync(file)) throw new Error('--mode kafka needs --brokers host:port (test/support/local-broker.ts, which starts a local one, is not there)');
  const mod = (await import(pathToFileURL(file).href)) as typeof import('../../test/support/local-broker.ts');
  const broker = await mod.startLocalBroker({ topic: 'metrics' });
  return { bootstrap: broker.bootstrap, stop: () => broker.stop() };
}
