/**
 * The top-frames analysis behind index.html and summary.md: what a reader takes as
 * "where the thread spent its time" must exclude idle, keep GC apart, and add up a
 * function reached through several call paths.
 */
import { describe, expect, it } from 'vitest';
import { analyzeProfile, buildCallTree, type CallTreeNode, type CpuProfile, type CpuProfileCallFrame } from '../../src/profile/cpuprofile.ts';

const frame = (functionName: string, url = '', lineNumber = -1): CpuProfileCallFrame => ({ functionName, scriptId: '1', url, lineNumber, columnNumber: 0 });

// (root) -> (idle) | (garbage collector) | (program) | onRequest -> parse ; drain -> parse
const profile: CpuProfile = {
  startTime: 0,
  endTime: 20_000,
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 3, 4, 5, 7] },
    { id: 2, callFrame: frame('(idle)') },
    { id: 3, callFrame: frame('(garbage collector)') },
    { id: 4, callFrame: frame('(program)') },
    { id: 5, callFrame: frame('onRequest', 'file:///app/src/workers/http-worker.ts', 76), children: [6] },
    { id: 6, callFrame: frame('parse', 'file:///app/src/workers/metrics-body.ts', 43) },
    { id: 7, callFrame: frame('', 'node:internal/streams/readable', 9), children: [8] },
    { id: 8, callFrame: frame('parse', 'file:///app/src/workers/metrics-body.ts', 43) },
  ],
  // 10 idle, 2 GC, 1 program, 3 onRequest, 2 + 1 parse (two call paths), 1 anonymous.
  samples: [...Array(10).fill(2), 3, 3, 4, 5, 5, 5, 6, 6, 8, 7],
  timeDeltas: Array(20).fill(1000),
};

describe('analyzeProfile', () => {
  const a = analyzeProfile(profile, { projectRoot: '/app' });

  it('counts idle apart and reports shares of busy samples', () => {
    expect(a.totalSamples).toBe(20);
    expect(a.idleSamples).toBe(10);
    expect(a.busySamples).toBe(10);
    expect(a.busyPercent).toBe(50);
    expect(a.gcPercent).toBe(20);
    expect(a.programPercent).toBe(10);
    expect(a.durationMs).toBe(20);
  });

  it('ranks real functions by self samples, one row per function across call paths', () => {
    expect(a.top.map((f) => [f.functionName, f.location, f.samples, f.percent])).toEqual([
      ['onRequest', 'src/workers/http-worker.ts:77', 3, 30],
      ['parse', 'src/workers/metrics-body.ts:44', 3, 30],
      ['(anonymous)', 'node:internal/streams/readable:10', 1, 10],
    ]);
  });

  it('keeps at most topN rows', () => {
    expect(analyzeProfile(profile, { topN: 1 }).top).toHaveLength(1);
  });

  it('falls back to hitCount when a profile has no samples array', () => {
    const { samples: _s, timeDeltas: _t, ...rest } = profile;
    const counted: CpuProfile = { ...rest, nodes: profile.nodes.map((n) => ({ ...n, hitCount: profile.samples!.filter((id) => id === n.id).length })) };
    const b = analyzeProfile(counted, { projectRoot: '/app' });
    expect(b.busySamples).toBe(10);
    expect(b.top[0]).toMatchObject({ functionName: 'onRequest', samples: 3 });
  });
});

describe('buildCallTree', () => {
  const tree = buildCallTree(profile, { projectRoot: '/app' });
  const brief = (n: CallTreeNode): unknown => [n.name, n.category, n.self, n.total, n.children.map(brief)];

  it('drops (idle), so the root spans the busy samples, heaviest callers first and categorised', () => {
    expect(brief(tree)).toEqual([
      '(root)', 'vm', 0, 10, [
        ['onRequest', 'app', 3, 5, [['parse', 'app', 2, 2, []]]],
        ['(garbage collector)', 'vm', 2, 2, []],
        ['(anonymous)', 'node', 1, 2, [['parse', 'app', 1, 1, []]]],
        ['(program)', 'vm', 1, 1, []],
      ],
    ]);
  });

  it('merges sibling nodes of the same function', () => {
    const split: CpuProfile = {
      startTime: 0,
      endTime: 3000,
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 3] },
        { id: 2, callFrame: frame('drain', 'file:///app/src/main/owner.ts', 10), children: [4] },
        { id: 3, callFrame: frame('drain', 'file:///app/src/main/owner.ts', 10) },
        { id: 4, callFrame: frame('copy', 'file:///app/node_modules/x/index.js', 1) },
      ],
      samples: [2, 3, 4],
    };
    expect(brief(buildCallTree(split, { projectRoot: '/app' }))).toEqual(['(root)', 'vm', 0, 3, [['drain', 'app', 2, 3, [['copy', 'deps', 1, 1, []]]]]]);
  });
});
