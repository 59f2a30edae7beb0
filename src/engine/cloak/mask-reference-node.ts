/**
 * Node-only: how the reference start pattern (mask-reference.ts) is learned. scripts/learn-mask-reference.ts writes
 * the shipped file with it; the protection benchmark learns the same pattern for its ensembles ("-universal").
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { decodeImageNode } from '../image/decode-node.ts';
import type { StrengthSetting } from './cloak.ts';
import type { CloakEngine, LearnMaskOptions } from './engine.ts';
import type { PersonalMask } from './personal-mask-format.ts';

const require = createRequire(import.meta.url);

/**
 * face-api's six demo photos (its author's own, in the npm package): several faces each, of people who are neither
 * fixtures nor, likely, users.
 */
export const maskReferencePhotos = [1, 2, 3, 4, 5, 6].map((n) =>
  join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo', `sample${n}.jpg`),
);

/** The learning settings: every face of every photo, seed 1. */
export const maskReferenceLearning = { faces: 'all', seed: 1 } as const satisfies LearnMaskOptions;

/** Learns the reference pattern with `engine`'s ensemble under `learn`'s strength (the shipped one: mid). */
export async function learnMaskReference(
  engine: Pick<CloakEngine, 'learnPersonalMask'>,
  learn: { strength: 'low' | 'mid' | 'high'; budget?: Partial<StrengthSetting>; onProgress?: LearnMaskOptions['onProgress'] },
): Promise<PersonalMask> {
  const images = [];
  for (const file of maskReferencePhotos) images.push(await decodeImageNode(new Uint8Array(await readFile(file))));
  return engine.learnPersonalMask(images, { ...learn, ...maskReferenceLearning });
}
