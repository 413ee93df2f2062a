/**
 * Turns one profiling run (load summary + per-thread analysis) into the two documents a
 * reader opens: index.html (links to each thread's flame graph, top frames table) and
 * summary.md (the same figures as markdown, quoted by the README).
 */
import { formatSummary } from '../load/format.ts';
import type { LoadSummary } from '../load/run-load.ts';
import type { ProfileAnalysis } from './cpuprofile.ts';

export interface ThreadReport {
  role: string;
  threadId: number;
  /** Flame graph file name, relative to the report folder. */
  flameGraph: string;
  /** The .cpuprofile file name, relative to the report folder. */
  profile: string;
  analysis: ProfileAnalysis;
}

export interface RunReport {
  /** The run's folder name (its timestamp), used as the title. */
  name: string;
  /** One line describing the gateway and load settings. */
  setup: string;
  load: LoadSummary;
  threads: ThreadReport[];
}

const EXPLAIN =
  'Self time per function as a share of the thread\'s busy samples: (idle) is excluded; ' +
  'garbage collection and (program) (native work V8 cannot attribute to a JS frame) are shown apart, not ranked. ' +
  'The profile covers the whole process life, start-up and shutdown included.';

/** One line per thread: how busy it was and how much of that was GC / native. */
export function threadHeadline(a: ProfileAnalysis): string {
  return (
    `busy ${a.busyPercent.toFixed(1)}% of ${(a.durationMs / 1000).toFixed(1)} s ` +
    `(${a.busySamples} of ${a.totalSamples} samples); GC ${a.gcPercent.toFixed(1)}%, (program) ${a.programPercent.toFixed(1)}% of busy`
  );
}

/** The summary.md text: setup, load table, then the top frames of every thread. */
export function renderSummaryMarkdown(r: RunReport): string {
  const out: string[] = [];
  out.push(`# Profile ${r.name}`, '', r.setup, '', '## Load', '', '```', formatSummary(r.load).trimEnd(), '```', '');
  out.push('## Where the time goes', '', EXPLAIN, '');
  for (const t of r.threads) {
    out.push(`### ${t.role}: ${threadHeadline(t.analysis)}`, '');
    if (t.analysis.top.length === 0) {
      out.push('No JavaScript samples.', '');
      continue;
    }
    out.push('| # | function | file:line | self % | samples |', '|--:|---|---|--:|--:|');
    t.analysis.top.forEach((f, i) => {
      out.push(`| ${i + 1} | \`${md(f.functionName)}\` | ${md(f.location)} | ${f.percent.toFixed(1)} | ${f.samples} |`);
    });
    out.push('');
  }
  return out.join('\n');
}

/** The index.html text: a self-contained page (no external assets). */
export function renderIndexHtml(r: RunReport): string {
  const sections = r.threads.map((t) => {
    const rows = t.analysis.top
      .map(
        (f, i) =>
          `<tr><td>${i + 1}</td><td><code>${html(f.functionName)}</code></td><td>${html(f.location)}</td>` +
          `<td class="n">${f.percent.toFixed(1)}</td><td class="n">${f.samples}</td></tr>`,
      )
      .join('\n');
    return `<section>
<h2><a href="${attr(t.flameGraph)}">${html(t.role)}</a> <small>thread ${t.threadId}</small></h2>
<p>${html(threadHeadline(t.analysis))} &middot; <a href="${attr(t.flameGraph)}">flame graph</a> &middot; <a href="${attr(t.profile)}" download>${html(t.profile)}</a></p>
${
  rows === ''
    ? '<p>No JavaScript samples.</p>'
    : `<table>
<thead><tr><th>#</th><th>function</th><th>file:line</th><th>self %</th><th>samples</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
}
</section>`;
  });
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>metricstream profile ${html(r.name)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; max-width: 70em; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.75em; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 0.75em; }
small { color: #777; font-weight: normal; }
</style>
</head>
<body>
<h1>metricstream profile ${html(r.name)}</h1>
<p>${html(r.setup)}</p>
<h2>Load</h2>
<pre>${html(formatSummary(r.load).trimEnd())}</pre>
<p>${html(EXPLAIN)} The .cpuprofile files also open in Chrome DevTools (Performance panel) or speedscope.</p>
${sections.join('\n')}
</body>
</html>
`;
}

function html(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function attr(s: string): string {
  return html(s).replace(/"/g, '&quot;');
}

function md(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/`/g, "'");
}
