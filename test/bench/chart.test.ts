import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderChart, SERIES } from '../../bench/e2e/chart.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('bench:e2e chart', () => {
  it('has a legend naming every colour its bars use', () => {
    const report = JSON.parse(readFileSync(path.join(ROOT, 'bench/results/e2e-latest.json'), 'utf8'));
    const svg = renderChart(report);
    const legend = /<g class="legend">(.*?)<\/g>/.exec(svg)?.[1] ?? '';
    for (const s of SERIES) {
      expect(legend).toContain(`fill="${s.color}"`);
      expect(legend).toContain(s.label.replace(/&/g, '&amp;'));
    }
    const barColours = new Set([...svg.replace(legend, '').matchAll(/<rect x="\d+(?:\.\d+)?" y="[\d.]+" width="[\d.]+" height="\d+" fill="([^"]+)"/g)].map((m) => m[1]));
    expect(barColours.size).toBeGreaterThan(1);
    for (const c of barColours) expect(legend).toContain(`fill="${c}"`);
  });

  it('the committed svg is the one rendered from the committed JSON', () => {
    const report = JSON.parse(readFileSync(path.join(ROOT, 'bench/results/e2e-latest.json'), 'utf8'));
    expect(readFileSync(path.join(ROOT, 'bench/results/e2e-latest.svg'), 'utf8')).toBe(renderChart(report));
  });
});
