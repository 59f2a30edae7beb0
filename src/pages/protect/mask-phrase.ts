/**
 * The protect page's words for how a photo's faces started: a Medium cloak starts a face from the person's mask only
 * where the mask fits it (the engine's `maskMaxStartSimilarity` and `maskLeadOverReference`), so a group photo can
 * have both kinds.
 */

/** '' when no face started from the mask; else a clause to append to "N faces cloaked in T s". */
export function personalMaskPhrase(faces: readonly { fromPersonalMask: boolean }[]): string {
  const fromMask = faces.filter((face) => face.fromPersonalMask).length;
  if (fromMask === 0) return '';
  if (fromMask === faces.length) return ', starting from your personal mask';
  const rest = faces.length - fromMask;
  return `, ${fromMask} of ${faces.length} starting from your personal mask (it did not fit the other${rest === 1 ? '' : 's'}, cloaked from scratch)`;
}
