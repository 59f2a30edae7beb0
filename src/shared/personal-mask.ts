/**
 * The person's personal mask as the extension keeps it: one, in chrome.storage.local under
 * PERSONAL_MASK_STORAGE_KEY, written only by the background (src/background/personal-mask-store.ts). It is learned
 * from a few photos of the person (the options page), holds a pattern and no photo, stays on this device (never
 * synced, not part of settings exports), and every cloak at Medium starts from it (src/engine/cloak/).
 */
import { type PersonalMask, personalMaskProblem } from '../engine/cloak/personal-mask-format.ts';
import type { RecognizerId } from '../engine/faces/types.ts';

export const PERSONAL_MASK_STORAGE_KEY = 'personalMask';

export interface StoredPersonalMask {
  mask: PersonalMask;
  /** When it was learned (ms since the epoch). */
  learnedAt: number;
}

/** What the options page shows about the stored mask. */
export interface PersonalMaskInfo {
  learnedAt: number;
  /** Faces it was learned from (one per photo). */
  photos: number;
  /** Why cloaks cannot start from it (e.g. learned by an older version); null when they do. */
  problem: string | null;
}

/** The stored value, or null when there is none or it is not even shaped like a stored mask. */
export function parseStoredPersonalMask(value: unknown): StoredPersonalMask | null {
  if (typeof value !== 'object' || value === null) return null;
  const { mask, learnedAt } = value as Partial<StoredPersonalMask>;
  if (typeof mask !== 'object' || mask === null || typeof learnedAt !== 'number' || !Number.isFinite(learnedAt)) return null;
  return { mask, learnedAt };
}

export function personalMaskInfo(stored: StoredPersonalMask, ensemble: readonly RecognizerId[]): PersonalMaskInfo {
  const photos = stored.mask.photos;
  return {
    learnedAt: stored.learnedAt,
    photos: Number.isSafeInteger(photos) ? photos : 0,
    problem: personalMaskProblem(stored.mask, ensemble),
  };
}
