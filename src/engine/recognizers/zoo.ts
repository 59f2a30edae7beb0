/** The recognizer zoo: every working recognizer the npm packages ship, loaded by id. */
import type { RecognizerId } from '../faces/types.ts';
import type { ModelEntry, ModelFileReader } from '../models/manifest.ts';
import { loadFaceApiResnet } from './faceapi-resnet.ts';
import { loadHumanGraphRecognizer } from './human-graph.ts';
import type { Recognizer } from './recognizer.ts';

export const recognizerIds: readonly RecognizerId[] = [
  'faceapi-resnet',
  'human-faceres',
  'human-faceres-deep',
  'human-mobileface',
];

/** `entry` overrides the manifest's description of the model (to try other input conventions). */
export function loadRecognizer(id: RecognizerId, read: ModelFileReader, entry?: ModelEntry): Promise<Recognizer> {
  return id === 'faceapi-resnet' ? loadFaceApiResnet(read, entry) : loadHumanGraphRecognizer(id, read, entry);
}

export async function loadRecognizers(ids: readonly RecognizerId[], read: ModelFileReader): Promise<Recognizer[]> {
  const loaded: Recognizer[] = [];
  try {
    for (const id of ids) loaded.push(await loadRecognizer(id, read));
    return loaded;
  } catch (error) {
    for (const recognizer of loaded) recognizer.dispose();
    throw error;
  }
}
