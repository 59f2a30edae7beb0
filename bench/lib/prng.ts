/** Small seeded randomness for benchmarks: reproducible splits and noise from a number or a string. */

/** 32-bit FNV-1a hash of a string; used to derive per-photo / per-identity seeds. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A seed made of several parts, e.g. deriveSeed(3, 'madonna') — stable across runs and platforms. */
export function deriveSeed(...parts: (string | number)[]): number {
  return hashString(parts.map(String).join('\u0000'));
}

/** mulberry32: uniform floats in [0, 1), fully determined by the 32-bit seed (the engine's own generator). */
export { createRandom as mulberry32 } from '../../src/engine/cloak/random.ts';

/** Fisher-Yates shuffle into a new array. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
