/**
 * The reference start pattern a personal mask must beat before a face starts from it (StrengthSetting
 * `maskLeadOverReference`): learned like a personal mask, but from every face in face-api's six demo photos, people
 * none of the fixtures or users are, so it moves faces in general and no one in particular. A photo that this pattern
 * already moves far from itself is one any pattern moves far, and the mask's doing as well is no sign that the face
 * is the mask's person. Made by scripts/learn-mask-reference.ts, kept in models/ with a manifest entry (role
 * 'mask-reference'), shipped with the extension and read like the weights.
 */
import { type ModelFileReader, modelEntry } from '../models/manifest.ts';
import type { RecognizerId } from '../faces/types.ts';
import { type PersonalMask, personalMaskProblem } from './personal-mask-format.ts';

export const maskReferenceId = 'mask-reference';

/**
 * The reference pattern when it was learned against `ensemble`, else null (the benchmark's other ensembles, or an
 * ensemble changed without the script run again). Throws when the file is missing or damaged.
 */
export async function loadMaskReference(read: ModelFileReader, ensemble: readonly RecognizerId[]): Promise<PersonalMask | null> {
  const entry = modelEntry(maskReferenceId);
  const [file] = entry.files;
  const reference: unknown = JSON.parse(new TextDecoder().decode(await read(entry, file)));
  const m = reference as Partial<PersonalMask>;
  if (Array.isArray(m.ensemble) && m.ensemble.join() !== ensemble.join()) return null;
  const problem = personalMaskProblem(reference, ensemble);
  if (problem !== null) throw new Error(`${entry.id}: ${file.path} cannot be used: ${problem}`);
  return reference as PersonalMask;
}
