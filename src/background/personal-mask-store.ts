/**
 * The only writer of the person's personal mask (src/shared/personal-mask.ts) in chrome.storage.local. Local on
 * purpose: the mask is learned from photos of the person, so it never goes to sync storage or into settings exports.
 */
import { productEnsemble } from '../engine/cloak/ensemble.ts';
import type { PersonalMask } from '../engine/cloak/personal-mask-format.ts';
import {
  PERSONAL_MASK_STORAGE_KEY,
  type PersonalMaskInfo,
  parseStoredPersonalMask,
  personalMaskInfo,
} from '../shared/personal-mask.ts';

export class PersonalMaskStore {
  constructor(private readonly now: () => number = Date.now) {}

  /** What the options page shows; null when there is no mask. */
  async info(): Promise<PersonalMaskInfo | null> {
    const stored = await this.read();
    return stored ? personalMaskInfo(stored, productEnsemble) : null;
  }

  /** The stored mask, usable or not: the offscreen document decides whether a cloak can start from it. */
  async mask(): Promise<PersonalMask | null> {
    return (await this.read())?.mask ?? null;
  }

  /** Keeps `mask` in place of any earlier one. */
  async set(mask: PersonalMask): Promise<PersonalMaskInfo> {
    const stored = { mask, learnedAt: this.now() };
    await chrome.storage.local.set({ [PERSONAL_MASK_STORAGE_KEY]: stored });
    return personalMaskInfo(stored, productEnsemble);
  }

  clear(): Promise<void> {
    return chrome.storage.local.remove(PERSONAL_MASK_STORAGE_KEY);
  }

  private async read() {
    return parseStoredPersonalMask((await chrome.storage.local.get(PERSONAL_MASK_STORAGE_KEY))[PERSONAL_MASK_STORAGE_KEY]);
  }
}
