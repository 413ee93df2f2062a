/**
 * Reads a V8 .cpuprofile (what `node --cpu-prof` writes, one per thread) and answers
 * "where did this thread spend its time": self samples per function, with the
 * pseudo-frames V8 adds ((idle), (program), (garbage collector)) counted apart so they
 * never crowd real code out of the top list. Used by both index.html and summary.md.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The part of a V8 call frame we use. lineNumber/columnNumber are 0-based; -1 when unknown. */
export interface CpuProfileCallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface CpuProfileNode {
  id: number;
  callFrame: CpuProfileCallFrame;
  hitCount?: number;
  children?: number[];
}

/** The JSON of a .cpuprofile file (times in microseconds). */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  /** Node id of each sample, in order. */
  samples?: number[];
  /** Microseconds between consecutive samples; timeDeltas[0] is from startTime. */
  timeDeltas?: number[];
}

/** One function's self time. */
export interface FrameStat {
  /** The function name, or "(anonymous)". */
  functionName: string;
  /** "src/workers/http-worker.ts:113" relative to the project root, "node:internal/...:12", or "(native)". */
  location: string;
  /** The frame's script URL as V8 reports it (file:///..., node:..., or ""). */
  url: string;
  /** 1-based line of the function's start; 0 when unknown. */
  line: number;
  /** Samples whose top frame was this function. */
  samples: number;
  /** samples / busy samples of the thread, 0..100. */
  percent: number;
}

/** What one thread did over the whole profile. */
export interface ProfileAnalysis {
  /** Wall time the profile covers, ms. */
  durationMs: number;
  totalSamples: number;
  /** Samples taken while the thread waited in its event loop. */
  idleSamples: number;
  /** total - idle: the denominator of every percentage below and in `top`. */
  busySamples: number;
  /** (garbage collector) samples, part of busy. */
  gcSamples: number;
  /** (program) samples: native code V8 could not attribute to a JS frame, part of busy. */
  programSamples: number;
  /** busy / total, 0..100: how much of the run this thread was working. */
  busyPercent: number;
  gcPercent: number;
  programPercent: number;
  /** Functions by self samples, most first, pseudo-frames excluded. */
  top: FrameStat[];
}

const IDLE = '(idle)';
const GC = '(garbage collector)';

/**
 * Aggregates self samples per function (a function reached through several call paths
 * is one row) and returns the `topN` heaviest. `projectRoot` turns file URLs under it
 * into relative paths. Counts samples, not time: V8's interval stretches while a thread
 * compiles or sits in a long native call, and a count is what flame graph widths show.
 */
export function analyzeProfile(profile: CpuProfile, options: { topN?: number; projectRoot?: string } = {}): ProfileAnalysis {
  const topN = options.topN ?? 10;
  const byId = new Map<number, CpuProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);

  // The samples array is authoritative; hitCount is an optional summary of it.
  const samplesById = new Map<number, number>();
  if (profile.samples !== undefined && profile.samples.length > 0) {
    for (const id of profile.samples) samplesById.set(id, (samplesById.get(id) ?? 0) + 1);
  } else {
    for (const node of profile.nodes) if ((node.hitCount ?? 0) > 0) samplesById.set(node.id, node.hitCount!);
  }

  let totalSamples = 0;
  let idleSamples = 0;
  let gcSamples = 0;
  let programSamples = 0;
  const frames = new Map<string, { frame: CpuProfileCallFrame; samples: number }>();
  for (const [id, n] of samplesById) {
    const node = byId.get(id);
    if (node === undefined) continue;
    totalSamples += n;
    const frame = node.callFrame;
    const name = frame.functionName;
    if (frame.url === '' && name.startsWith('(')) {
      // (program), (root) and any pseudo-frame a newer V8 adds: native work with no JS frame.
      if (name === IDLE) idleSamples += n;
      else if (name === GC) gcSamples += n;
      else programSamples += n;
      continue;
    }
    // V8 gives one node per call path; one row per function is what a reader wants.
    const key = `${name}\0${frame.url}\0${frame.lineNumber}\0${frame.columnNumber}`;
    const entry = frames.get(key);
    if (entry === undefined) frames.set(key, { frame, samples: n });
    else entry.samples += n;
  }

  const busySamples = totalSamples - idleSamples;
  const pct = (n: number, of: number) => (of === 0 ? 0 : round2((n * 100) / of));
  const top = [...frames.values()]
    .sort((a, b) => b.samples - a.samples)
    .slice(0, topN)
    .map(({ frame, samples: n }): FrameStat => ({
      functionName: frame.functionName === '' ? '(anonymous)' : frame.functionName,
      location: formatLocation(frame, options.projectRoot),
      url: frame.url,
      line: frame.lineNumber >= 0 ? frame.lineNumber + 1 : 0,
      samples: n,
      percent: pct(n, busySamples),
    }));

  return {
    durationMs: round2(Math.max(0, profile.endTime - profile.startTime) / 1000),
    totalSamples,
    idleSamples,
    busySamples,
    gcSamples,
    programSamples,
    busyPercent: pct(busySamples, totalSamples),
    gcPercent: pct(gcSamples, busySamples),
    programPercent: pct(programSamples, busySamples),
    top,
  };
}

/** Where a frame's code lives; drives the flame graph colours. */
export type FrameCategory = 'app' | 'deps' | 'node' | 'native' | 'vm';

/** One call path in the merged call tree. Counts are samples; (idle) is left out. */
export interface CallTreeNode {
  name: string;
  location: string;
  category: FrameCategory;
  /** Samples with this frame on top. */
  self: number;
  /** Samples with this frame anywhere on the stack below this path: self + children's totals. */
  total: number;
  /** Heaviest first. */
  children: CallTreeNode[];
}

/**
 * The profile as a call tree for a flame graph: children with the same function merged,
 * sorted heaviest first, empty paths and (idle) dropped. The root is "(root)" and its
 * total is the thread's busy samples.
 */
export function buildCallTree(profile: CpuProfile, options: { projectRoot?: string } = {}): CallTreeNode {
  const byId = new Map<number, CpuProfileNode>();
  const isChild = new Set<number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const c of node.children ?? []) isChild.add(c);
  }
  const hits = new Map<number, number>();
  if (profile.samples !== undefined && profile.samples.length > 0) {
    for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  } else {
    for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0);
  }

  const build = (node: CpuProfileNode): CallTreeNode | undefined => {
    const frame = node.callFrame;
    if (frame.url === '' && frame.functionName === IDLE) return undefined;
    const merged = new Map<string, CallTreeNode>();
    for (const id of node.children ?? []) {
      const child = byId.get(id);
      const built = child === undefined ? undefined : build(child);
      if (built === undefined) continue;
      const key = `${built.name}\0${built.location}`;
      const same = merged.get(key);
      if (same === undefined) merged.set(key, built);
      else mergeInto(same, built);
    }
    const children = [...merged.values()].sort((a, b) => b.total - a.total);
    const self = hits.get(node.id) ?? 0;
    const total = children.reduce((sum, c) => sum + c.total, self);
    if (total === 0) return undefined;
    return {
      name: frame.functionName === '' ? '(anonymous)' : frame.functionName,
      location: frame.url === '' ? '' : formatLocation(frame, options.projectRoot),
      category: categorize(frame, options.projectRoot),
      self,
      total,
      children,
    };
  };

  const root = profile.nodes.find((n) => !isChild.has(n.id));
  const tree = root === undefined ? undefined : build(root);
  return tree ?? { name: '(root)', location: '', category: 'vm', self: 0, total: 0, children: [] };
}

function mergeInto(into: CallTreeNode, from: CallTreeNode): void {
  into.self += from.self;
  into.total += from.total;
  for (const c of from.children) {
    const same = into.children.find((x) => x.name === c.name && x.location === c.location);
    if (same === undefined) into.children.push(c);
    else mergeInto(same, c);
  }
  into.children.sort((a, b) => b.total - a.total);
}

/** app: project code; deps: node_modules and other files; node: Node's own JS; native: C++ bindings; vm: V8 pseudo-frames. */
export function categorize(frame: CpuProfileCallFrame, projectRoot?: string): FrameCategory {
  if (frame.url === '') return frame.functionName.startsWith('(') ? 'vm' : 'native';
  if (frame.url.startsWith('node:')) return 'node';
  if (frame.url.includes('/node_modules/')) return 'deps';
  if (projectRoot === undefined) return 'app';
  return projectRelative(frame.url, projectRoot) !== undefined ? 'app' : 'deps';
}

/** "file:line" for a call frame: project files relative to `projectRoot`, node: URLs as they are. */
export function formatLocation(frame: CpuProfileCallFrame, projectRoot?: string): string {
  if (frame.url === '') return '(native)';
  let file = frame.url;
  if (file.startsWith('file://')) file = (projectRoot === undefined ? undefined : projectRelative(file, projectRoot)) ?? filePath(file);
  return frame.lineNumber >= 0 ? `${file}:${frame.lineNumber + 1}` : file;
}

/** The '/'-separated path of a file: URL under `root`, or undefined (not a file URL, or outside). */
function projectRelative(url: string, root: string): string | undefined {
  if (!url.startsWith('file://')) return undefined;
  const rel = path.relative(root, filePath(url));
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return undefined;
  return rel.split(path.sep).join('/');
}

function filePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch {
    return url; // a display string, never opened
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
