/** Child-process helpers for the load tool tests: the no-op server and the load CLI. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_ARGS = ['--import', './src/main/require-node.mjs'];

/** A running bench/noop-server.ts child. */
export interface NoopServer {
  port: number;
  child: ChildProcess;
  /** First stdout line, e.g. `listening on http://127.0.0.1:1234 workers=2`. */
  banner: string;
  /** SIGTERM, resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts the no-op server with `workers` workers on a free port; resolves once it listens. */
export async function startNoopServer(workers: number, extraArgs: string[] = []): Promise<NoopServer> {
  const child = spawn(
    process.execPath,
    [...NODE_ARGS, 'bench/noop-server.ts', '--workers', String(workers), '--port', '0', ...extraArgs],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const banner = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
      const nl = stdout.indexOf('\n');
      if (nl >= 0) resolve(stdout.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`noop-server exited ${code}: ${stderr}`)));
  });
  const match = /:(\d+) workers=/.exec(banner);
  if (!match) throw new Error(`unexpected banner ${banner}`);
  return {
    port: Number(match[1]),
    child,
    banner,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

/** Result of one `npm run load`-equivalent child process. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs src/load/cli.ts exactly as `npm run load -- ...args` does, to completion. */
export async function runLoadCli(args: string[]): Promise<CliRun> {
  const child = spawn(process.execPath, [...NODE_ARGS, 'src/load/cli.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const [code] = await once(child, 'exit');
  return { code: code as number | null, stdout, stderr };
}

/** A TCP port that was free a moment ago (nothing listens on it after this returns). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}
