/**
 * A personal mask as data (what is stored and passed around) and the checks that decide whether it can start a
 * cloak. No tfjs here: the extension's background and options page read masks too, without loading the engine.
 * Learning one is personal-mask.ts; starting a cloak from one is cloak.ts (`cloakFace({start})`).
 */
import type { RecognizerId } from '../faces/types.ts';
import type { MaskPattern } from './cloak.ts';

/** The pattern's frame: 128 px, zoomed out so that the region cloakFace may change (box + 35 % margin) fits in it. */
export const maskFrame = { size: 128, cropScale: 0.55 };

/**
 * A personal mask: a perturbation pattern learned once from a few photos of one person, from which every later cloak
 * of their face starts. Plain JSON, so it can be stored (about 65 KB); it holds no photo and no embedding.
 */
export interface PersonalMask {
  /** The ensemble it was learned against; a cloak with another ensemble refuses it. */
  ensemble: RecognizerId[];
  /** Side of the square pattern frame, and its zoom (`maskFrame`). */
  size: number;
  cropScale: number;
  /** The pattern [size, size, 3] in shares of the budget, as int8 (-127..127 for -1..1), base64. */
  pattern: string;
  /** How many faces it was learned from (one per photo of the person). */
  photos: number;
}

export function encodeMaskPattern(shares: Float32Array): string {
  let binary = '';
  for (const share of shares) binary += String.fromCharCode(Math.round(Math.max(-1, Math.min(1, share)) * 127) & 0xff);
  return btoa(binary);
}

function patternBytes(pattern: unknown): string | null {
  if (typeof pattern !== 'string') return null;
  try {
    return atob(pattern);
  } catch {
    return null;
  }
}

/**
 * Why `mask` cannot start a cloak against `ensemble`, in a sentence for people; null when it can. Accepts anything
 * (a file, stored data), so a damaged mask is a reason, not an exception.
 */
export function personalMaskProblem(mask: unknown, ensemble: readonly RecognizerId[]): string | null {
  if (typeof mask !== 'object' || mask === null) return 'This is not a personal mask.';
  const m = mask as Partial<PersonalMask>;
  if (!Array.isArray(m.ensemble) || m.ensemble.join() !== ensemble.join()) {
    return 'The personal mask was learned against other recognizers; learn it again with this version of Face Cloak.';
  }
  if (m.size !== maskFrame.size || m.cropScale !== maskFrame.cropScale) {
    return 'The personal mask was made by another version of Face Cloak; learn it again.';
  }
  if (!(Number.isSafeInteger(m.photos) && (m.photos as number) > 0)) return 'The personal mask is damaged: it says no photo.';
  const bytes = patternBytes(m.pattern);
  if (bytes === null || bytes.length !== maskFrame.size * maskFrame.size * 3) {
    return `The personal mask is damaged: ${bytes?.length ?? 0} values for a ${maskFrame.size} px pattern.`;
  }
  return null;
}

/** The pattern a personal mask holds; throws, saying why, when it cannot start a cloak against `ensemble`. */
export function maskPattern(mask: PersonalMask, ensemble: readonly RecognizerId[]): MaskPattern {
  const problem = personalMaskProblem(mask, ensemble);
  if (problem !== null) throw new Error(problem);
  const binary = patternBytes(mask.pattern)!;
  return { size: mask.size, cropScale: mask.cropScale, shares: Float32Array.from(binary, (c) => ((c.charCodeAt(0) << 24) >> 24) / 127) };
}
