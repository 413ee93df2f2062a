/**
 * Runs the gateway as a child process under `node --cpu-prof`, so V8 writes one
 * .cpuprofile per thread (owner and every HTTP worker) when the process exits cleanly.
 * Reads the gateway's pino lines to learn its port and which thread id is which worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { GATEWAY_NODE_FLAGS } from '../main/node-flags.ts';

/** Where the project lives (src/profile/ is two levels down). */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, '../..');

export interface ProfiledGatewayOptions {
  /** Where V8 writes the .cpuprofile files. */
  profileDir: string;
  /** Everything the gateway prints (pino lines on stdout, stderr) is copied here. */
  logFile: string;
  /** Gateway flags after the script (--workers, --mode, ...). */
  gatewayArgs: string[];
  /** Give up if the gateway has not printed its listening line by then (default 60 s). */
  startTimeoutMs?: number;
}

export interface ProfiledGateway {
  pid: number;
  port: number;
  /** V8 thread id -> worker index, from the "worker up" lines (thread 0 is the owner). */
  workerThreads: Map<number, number>;
  /**
   * SIGTERM (the gateway drains and exits 0), then waits up to `timeoutMs` for exit; a
   * gateway still running then is SIGKILLed. Resolves with the exit code or signal name.
   * `graceMs` first waits that long for a shutdown the gateway started by itself (a
   * terminal's Ctrl-C reaches it too): a second signal would make it skip the drain.
   */
  stop(options?: { timeoutMs?: number; graceMs?: number }): Promise<number | string>;
  /** The last lines the gateway wrote on stderr and stdout, for error messages. */
  tail(): string;
}

/** Starts the gateway and resolves once it listens; rejects (with its output) if it exits or hangs first. */
export async function startProfiledGateway(opts: ProfiledGatewayOptions): Promise<ProfiledGateway> {
  const args = [
    // Node flags go before the script: after it they would be gateway arguments.
    ...GATEWAY_NODE_FLAGS,
    '--cpu-prof',
    '--cpu-prof-dir',
    opts.profileDir,
    '--disable-warning=TimeoutNegativeWarning', // kafkajs's negative timers, as in every npm script
    '--import',
    './src/main/require-node.mjs',
    'src/main/cli.ts',
    ...opts.gatewayArgs,
  ];
  const proc: ChildProcess = spawn(process.execPath, args, { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(opts.logFile);
  const lines: string[] = [];
  const remember = (line: string) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
  };
  const workerThreads = new Map<number, number>();
  const exited = new Promise<number | string>((resolve) => {
    // 'close', not 'exit': it comes after stdout ended, so every log line has been read.
    proc.once('close', (code, signal) => resolve(code ?? signal ?? -1));
    proc.once('error', (err) => {
      remember(`spawn failed: ${err.message}`);
      resolve(-1);
    });
  });
  readline.createInterface({ input: proc.stderr! }).on('line', (line) => {
    log.write(`${line}\n`);
    remember(line);
  });
  const logClosed = exited.then(() => new Promise<void>((resolve) => log.end(resolve)));
  // If the profiler quits first (second Ctrl-C, a crash), don't leave a gateway behind.
  const stopOnExit = () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  };
  process.once('exit', stopOnExit);
  void exited.then(() => process.off('exit', stopOnExit));

  let started = false;
  let shutdownLogged = false;
  let onShutdownLogged = () => {};
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`gateway did not start within ${(opts.startTimeoutMs ?? 60_000) / 1000}s:\n${lines.join('\n')}`));
    }, opts.startTimeoutMs ?? 60_000);
    readline.createInterface({ input: proc.stdout! }).on('line', (line) => {
      log.write(`${line}\n`);
      remember(line);
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (typeof entry.msg === 'string' && entry.msg.startsWith('shutdown')) {
        shutdownLogged = true;
        onShutdownLogged();
      }
      if (entry.msg === 'worker up' && typeof entry.threadId === 'number' && typeof entry.worker === 'number') {
        workerThreads.set(entry.threadId, entry.worker);
      } else if (!started && typeof entry.msg === 'string' && entry.msg.includes('listening on') && typeof entry.port === 'number') {
        started = true;
        clearTimeout(timer);
        resolve(entry.port);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`gateway exited (${code}) before listening:\n${lines.join('\n')}`));
    });
  });

  return {
    pid: proc.pid!,
    port,
    workerThreads,
    tail: () => lines.join('\n'),
    async stop({ timeoutMs = 60_000, graceMs = 0 } = {}) {
      if (!shutdownLogged && graceMs > 0) {
        let graceTimer: NodeJS.Timeout | undefined;
        await Promise.race([
          exited,
          new Promise<void>((resolve) => {
            onShutdownLogged = resolve;
            graceTimer = setTimeout(resolve, graceMs);
          }),
        ]);
        clearTimeout(graceTimer);
      }
      if (!shutdownLogged && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      const first = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      let result: number | string = first;
      if (first === 'timeout') {
        proc.kill('SIGKILL');
        await exited;
        result = `no exit within ${timeoutMs / 1000}s of SIGTERM (killed)`;
      }
      await logClosed;
      return result;
    },
  };
}
