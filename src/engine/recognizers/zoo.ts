/** The recognizer zoo: every working recognizer the npm packages ship, loaded by id. */
import type { RecognizerId } from '../faces/types.ts';
import type { ModelFileReader } from '../models/manifest.ts';
import { loadFaceApiResnet } from './faceapi-resnet.ts';
import { loadHumanGraphRecognizer } from './human-graph.ts';
import type { Recognizer } from './recognizer.ts';

export const recognizerIds: readonly RecognizerId[] = [
  'faceapi-resnet',
  'human-faceres',
  'human-faceres-deep',
  'human-mobileface',
];

export function loadRecognizer(id: RecognizerId, read: ModelFileReader): Promise<Recognizer> {
  return id === 'faceapi-resnet' ? loadFaceApiResnet(read) : loadHumanGraphRecognizer(id, read);
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
