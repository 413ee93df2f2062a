/**
 * Configuration beyond flags: METRICSTREAM_* variables and --config FILE, precedence
 * flag > environment > file > default, for the gateway and (METRICSTREAM_CONSUME_*) the
 * consumer; the help says so.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/args.ts';
import { envName, layerArgv } from '../../src/cli/config-layers.ts';
import { OPTIONS, parseConfigLayers } from '../../src/main/config.ts';
import { consumeAll, postMetrics, ROOT, startGateway, tempDir } from '../support/gateway-process.ts';

async function configFile(content: unknown): Promise<string> {
  const file = path.join(await tempDir(), 'metricstream.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('gateway configuration layers', () => {
  it('maps every flag to METRICSTREAM_<FLAG>', () => {
    expect(envName('METRICSTREAM_', 'data-dir')).toBe('METRICSTREAM_DATA_DIR');
    expect(envName('METRICSTREAM_', 'workers')).toBe('METRICSTREAM_WORKERS');
    for (const [flag, opt] of Object.entries(OPTIONS)) {
      if (flag === 'help' || flag === 'config') continue;
      const { argv, origin } = layerArgv([], OPTIONS, { envPrefix: 'METRICSTREAM_', env: { [envName('METRICSTREAM_', flag)]: opt.type === 'boolean' ? 'true' : 'x' } });
      expect(origin.get(flag), flag).toBe(envName('METRICSTREAM_', flag));
      expect(argv, flag).toEqual([opt.type === 'boolean' ? `--${flag}` : `--${flag}=x`]);
    }
  });

  it('flag > environment > file > default, each flag on its own', async () => {
    const file = await configFile({ workers: 3, partitions: 6, 'max-body': '2mb', 'log-level': 'warn', idempotent: false });
    const c = parseConfigLayers(['--workers', '5', '--config', file], { METRICSTREAM_WORKERS: '4', METRICSTREAM_PARTITIONS: '8', METRICSTREAM_DATA_DIR: '/srv/ms' })!;
    expect(c.workers).toBe(5); // flag beats env and file
    expect(c.partitions).toBe(8); // env beats file
    expect(c.maxBody).toBe(2 * 1024 * 1024); // file beats default
    expect(c.logLevel).toBe('warn');
    expect(c.dataDir).toBe('/srv/ms');
    expect(c.port).toBe(8090); // default
    // short flags count as given on the command line
    expect(parseConfigLayers(['-w', '2'], { METRICSTREAM_WORKERS: '4' })!.workers).toBe(2);
  });

  it('METRICSTREAM_CONFIG names the file; a switch takes true/false; env false beats file true', async () => {
    const file = await configFile({ mode: 'kafka', brokers: 'h:1', idempotent: true });
    expect(parseConfigLayers([], { METRICSTREAM_CONFIG: file })!.idempotent).toBe(true);
    expect(parseConfigLayers([], { METRICSTREAM_CONFIG: file, METRICSTREAM_IDEMPOTENT: 'false' })!.idempotent).toBe(false);
    expect(parseConfigLayers([], { METRICSTREAM_MODE: 'kafka', METRICSTREAM_BROKERS: 'h:1', METRICSTREAM_IDEMPOTENT: '1' })!.idempotent).toBe(true);
  });

  it('a bad value names where it came from; a bad file is a usage error', async () => {
    expect(() => parseConfigLayers([], { METRICSTREAM_WORKERS: 'many' })).toThrow(/--workers: "many".*\(set by METRICSTREAM_WORKERS\)/);
    const file = await configFile({ partitions: 0 });
    expect(() => parseConfigLayers(['--config', file], {})).toThrow(new RegExp(`set by config file ${file.replace(/[.]/g, '\\.')}`));
    const wrongKey = await configFile({ data_dir: 'x' });
    expect(() => parseConfigLayers(['--config', wrongKey], {})).toThrow(/"data_dir" is not a flag/);
    const notJson = await configFile('{not json');
    expect(() => parseConfigLayers(['--config', notJson], {})).toThrow(UsageError);
    expect(() => parseConfigLayers(['--config', '/nonexistent/x.json'], {})).toThrow(UsageError);
    expect(() => parseConfigLayers([], { METRICSTREAM_IDEMPOTENT: 'maybe' })).toThrow(/METRICSTREAM_IDEMPOTENT: "maybe" must be true or false/);
  });

  it('--help shows the precedence and the variable names', () => {
    const r = spawnSync(process.execPath, ['src/main/cli.ts', '--help'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, METRICSTREAM_WORKERS: 'bad' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('METRICSTREAM_DATA_DIR');
    expect(r.stdout).toContain('Precedence: command-line flag > environment > config file > default');
    expect(r.stdout).toContain('--config FILE');
  });

  it('a gateway configured by environment and file only stores where they say', async () => {
    const dataDir = await tempDir();
    const file = await configFile({ partitions: 2, 'data-dir': '/nonexistent-overridden-by-env' });
    const saved = { ...process.env };
    Object.assign(process.env, { METRICSTREAM_DATA_DIR: dataDir, METRICSTREAM_WORKERS: '1', METRICSTREAM_CONFIG: file });
    let gw;
    try {
      gw = await startGateway([]);
    } finally {
      for (const k of ['METRICSTREAM_DATA_DIR', 'METRICSTREAM_WORKERS', 'METRICSTREAM_CONFIG']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
    try {
      const start = gw.logs.find((l) => String(l.msg).includes('listening on'))!;
      expect(start.msg).toContain(`workers=1`);
      expect(start.msg).toContain(`data-dir=${dataDir}`);
      expect((await postMetrics(gw.port, 'c', { metrics: [{ name: 'x', value: 1 }] })).status).toBe(200);
    } finally {
      expect(await gw.stop()).toBe(0);
    }
    const lines = await consumeAll(dataDir);
    expect(lines).toHaveLength(1);
    expect(lines[0].partition).toBeLessThan(2);
  });
});

describe('consumer configuration layers', () => {
  it('METRICSTREAM_CONSUME_* and --config feed the consumer; a flag beats both; --help says so', async () => {
    const empty = await tempDir();
    const env: NodeJS.ProcessEnv = { ...process.env, METRICSTREAM_CONSUME_DATA_DIR: '/nonexistent-env-dir' };
    const run = (args: string[], e = env) => spawnSync(process.execPath, ['src/consumer/cli.ts', ...args], { cwd: ROOT, encoding: 'utf8', env: e });
    const fromEnv = run(['--exit-at-end']);
    expect(fromEnv.status).toBe(1);
    expect(fromEnv.stderr).toContain('/nonexistent-env-dir');
    const file = await configFile({ 'data-dir': '/nonexistent-file-dir', 'exit-at-end': true });
    const fromFile = run(['--config', file], { ...process.env });
    expect(fromFile.stderr).toContain('/nonexistent-file-dir');
    const envOverFile = run(['--config', file]);
    expect(envOverFile.stderr).toContain('/nonexistent-env-dir');
    const flag = run(['--data-dir', empty, '--exit-at-end']);
    expect(flag.stderr).toContain(empty);
    expect(run(['--max-records', '0'], { ...process.env, METRICSTREAM_CONSUME_MAX_RECORDS: 'x' }).status).toBe(2);
    const bad = run([], { ...process.env, METRICSTREAM_CONSUME_MAX_RECORDS: 'x' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('set by METRICSTREAM_CONSUME_MAX_RECORDS');
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('METRICSTREAM_CONSUME_DATA_DIR');
    expect(help.stdout).toContain('Precedence: command-line flag > environment > config file > default');
  });
});
