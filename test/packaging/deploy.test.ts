/**
 * The deployment recipes the README documents: the systemd unit passes
 * `systemd-analyze verify` (with its /opt/metricstream paths pointed at this checkout, since
 * verify checks that ExecStart exists), and the unit and the Dockerfile name the health
 * checks, the signal and the data volume the gateway needs. The Dockerfile is not built
 * here: there is no container engine on these machines.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/gateway-process.ts';

const unit = readFileSync(path.join(ROOT, 'deploy/metricstream.service'), 'utf8');
const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

describe('deploy/metricstream.service', () => {
  it('passes systemd-analyze verify without a single warning', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'metricstream-unit-'));
    const file = path.join(dir, 'metricstream.service');
    writeFileSync(file, unit.replaceAll('/opt/metricstream', ROOT));
    const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
    if (r.error) throw new Error(`systemd-analyze missing (Debian's systemd package: .ci/install-debian-packages): ${r.error.message}`);
    expect(r.status, r.stderr).toBe(0);
    // verify exits 0 on unknown keys and bad values too: it must print nothing about our unit
    expect((r.stdout + r.stderr).split('\n').filter((l) => l.includes('metricstream'))).toEqual([]);
  });

  it('runs the bin directly (no npm, no shell) and stops it with SIGTERM, with time to drain', () => {
    expect(unit).toMatch(/^ExecStart=\/opt\/metricstream\/bin\/metricstream\b/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    expect(unit).toMatch(/^TimeoutStopSec=\d+$/m);
    expect(unit).toMatch(/^StateDirectory=metricstream$/m);
    expect(unit).toMatch(/^Environment=METRICSTREAM_DATA_DIR=\/var\/lib\/metricstream$/m);
  });
});

describe('Dockerfile', () => {
  it('installs with npm ci --omit=dev, runs the bin as PID 1 in exec form, has a data volume and a health check', () => {
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/app\/bin\/metricstream"\]/m);
    expect(dockerfile).toMatch(/^STOPSIGNAL SIGTERM$/m);
    expect(dockerfile).toMatch(/^VOLUME \["\/data"\]$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK [\s\S]*?\/readyz/m);
  });
});
