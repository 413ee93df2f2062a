/**
 * The descriptor budget (src/main/descriptor-budget.ts): the limit read as /proc/self/limits
 * prints it, and what it leaves each worker's connections.
 */
import { describe, expect, it } from 'vitest';
import { connectionsWithin, DEFAULT_MAX_CONNECTIONS, descriptorLimit, overBudgetWarning, reservedDescriptors } from '../../src/main/descriptor-budget.ts';

const limits = (soft: string, hard: string) =>
  `Limit                     Soft Limit           Hard Limit           Units     \n` +
  `Max processes             95104                95104                processes \n` +
  `Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     \n` +
  `Max locked memory         8388608              8388608              bytes     \n`;

describe('the descriptor budget', () => {
  it('reads the soft limit on open files, and nothing where it is unlimited or unreadable', () => {
    expect(descriptorLimit(limits('1024', '524288'))).toBe(1024);
    expect(descriptorLimit(limits('unlimited', 'unlimited'))).toBeUndefined();
    expect(descriptorLimit('')).toBeUndefined();
    // This process's own, as Linux reports it.
    expect(descriptorLimit()).toBeGreaterThan(0);
  });

  it('leaves each worker what the limit has after the reserve, between 1 and the default', () => {
    expect(connectionsWithin(1024, 2, 4)).toBe(Math.floor((1024 - reservedDescriptors(2, 4)) / 2));
    expect(connectionsWithin(1024, 16, 4) * 16 + reservedDescriptors(16, 4)).toBeLessThanOrEqual(1024);
    expect(connectionsWithin(65536, 16, 64)).toBe(DEFAULT_MAX_CONNECTIONS);
    expect(connectionsWithin(100, 16, 64)).toBe(1);
  });

  it('warns only when the connections and the reserve pass the limit', () => {
    expect(overBudgetWarning(1024, 16, 4, 65536)).toBeUndefined();
    expect(overBudgetWarning(1024, 16, 4, undefined)).toBeUndefined();
    expect(overBudgetWarning(connectionsWithin(1024, 2, 4), 2, 4, 1024)).toBeUndefined();
    expect(overBudgetWarning(1024, 2, 4, 1024)).toMatch(/--workers 2 x --max-connections 1024 .* \(ulimit -n 1024\).*lower --max-connections to \d+/);
  });
});
