/** Plain-text tables for benchmark output (fixed-width columns, numbers right-aligned). */

export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const numeric = header.map((_, c) => rows.length > 0 && rows.every((r) => /^[-+\d.∞%± /nai]*$/i.test(r[c] ?? '')));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (numeric[c] && c > 0 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** 0.1234 -> "12.3%"; NaN -> "n/a". */
export function pct(value: number, digits = 1): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : 'n/a';
}

/** mean ± std as percentages: "12.3±4.5%". */
export function pctPm(mean: number, std: number, digits = 1): string {
  if (!Number.isFinite(mean)) return 'n/a';
  return `${(mean * 100).toFixed(digits)}±${(std * 100).toFixed(digits)}%`;
}

export function num(value: number, digits = 3): string {
  if (value === Number.POSITIVE_INFINITY) return '∞';
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}
