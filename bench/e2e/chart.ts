/**
 * Renders the end-to-end results as a plain SVG bar chart (no dependency): one panel per
 * body size, one bar per row, requests/s with p99 and the ratio to the no-op ceiling, and
 * a legend saying what each bar colour stands for.
 */
interface ChartRow {
  row: string;
  workers: number;
  /** Connections of this row's load when it differs from the report's (the *-1ms rows). */
  connections?: number;
  metricsPerRequest: number;
  requestsPerSecond: number;
  p99: number;
  ratioToNoop: number | null;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The bar colours, one per kind of row; the legend lists them in this order. */
export const SERIES = [
  { label: 'metricstream (file or Kafka sink)', color: '#3a78d9' },
  { label: 'no-op server (HTTP ceiling)', color: '#999' },
  { label: 'peers (vmagent, kafkajs per request, node:cluster)', color: '#d98c3a' },
] as const;

/** The colour of a row's bar: the no-op ceiling, a peer, or metricstream itself. */
export function seriesColor(row: string): string {
  if (row === 'noop' || row === 'noop-net') return SERIES[1].color;
  if (row.startsWith('peer')) return SERIES[2].color;
  return SERIES[0].color;
}

export function renderChart(report: { machine: { cpu: string; cores: number; node: string }; connections: number; results: ChartRow[] }): string {
  const panels = new Map<string, ChartRow[]>();
  for (const r of report.results) {
    const key = r.row.startsWith('sweep-') ? `scaling sweep, file acks 1, ${r.metricsPerRequest} metric(s)/request` : `${r.metricsPerRequest} metric(s) per request`;
    const own = r.connections !== undefined && r.connections !== report.connections ? ` @${r.connections}` : '';
    const label = r.row.startsWith('sweep-') ? `--workers ${r.workers}` : `${r.row}${own}`;
    panels.set(key, [...(panels.get(key) ?? []), { ...r, row: label }]);
  }
  const barHeight = 22;
  // Wide enough for the longest row label (about 7 px per character at 12 px).
  const longest = Math.max(0, ...[...panels.values()].flat().map((r) => r.row.length));
  const labelWidth = Math.max(130, 16 + longest * 7);
  const plotWidth = 520;
  const width = labelWidth + plotWidth + 260; // room for the longest value label after a full bar
  let y = 66;
  const parts: string[] = [];
  parts.push(`<text x="10" y="22" font-size="15" font-weight="bold">metricstream bench:e2e — requests/s (${report.connections} connections)</text>`);
  parts.push(`<text x="10" y="38" font-size="11" fill="#555">${escape(`${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}`)}</text>`);
  // Legend: one swatch and label per colour, on one line under the subtitle.
  let lx = 10;
  parts.push('<g class="legend">');
  for (const s of SERIES) {
    parts.push(`<rect x="${lx}" y="46" width="12" height="12" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="56" font-size="11">${escape(s.label)}</text>`);
    lx += 16 + s.label.length * 6 + 18;
  }
  parts.push('</g>');
  for (const [title, rows] of panels) {
    y += 18;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${escape(title)}</text>`);
    y += 8;
    const max = Math.max(...rows.map((r) => r.requestsPerSecond), 1);
    for (const r of rows) {
      const w = Math.max(1, (r.requestsPerSecond / max) * plotWidth);
      const color = seriesColor(r.row);
      parts.push(`<text x="10" y="${y + 15}" font-size="12">${escape(r.row)}</text>`);
      parts.push(`<rect x="${labelWidth}" y="${y + 2}" width="${w.toFixed(1)}" height="${barHeight - 6}" fill="${color}"/>`);
      const ratio = r.ratioToNoop === null ? '' : `, ${r.ratioToNoop.toFixed(2)}× noop`;
      parts.push(`<text x="${labelWidth + w + 6}" y="${y + 15}" font-size="11">${Math.round(r.requestsPerSecond).toLocaleString('en-US')} req/s, p99 ${r.p99.toFixed(1)} ms${ratio}</text>`);
      y += barHeight;
    }
  }
  y += 12;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>\n`;
}
