/** The recognizer zoo: every working recognizer the npm packages ship, loaded by id. */
import type { RecognizerId } from '../faces/types.ts';
import type { ModelEntry, ModelFileReader } from '../models/manifest.ts';
import { loadFaceApiResnet } from './faceapi-resnet.ts';
import { loadHumanGraphRecognizer } from './human-graph.ts';
import { loadModelFileRecognizer } from './model-file-recognizer.ts';
import type { Recognizer } from './recognizer.ts';

export const recognizerIds: readonly RecognizerId[] = [
  'faceapi-resnet',
  'human-faceres',
  'human-faceres-deep',
  'human-mobileface',
  'expo-mobilefacenet',
  'faceplugin-mobilefacenet',
];

/** `entry` overrides the manifest's description of the model (to try other input conventions). */
export function loadRecognizer(id: RecognizerId, read: ModelFileReader, entry?: ModelEntry): Promise<Recognizer> {
  if (id === 'faceapi-resnet') return loadFaceApiResnet(read, entry);
  if (id === 'expo-mobilefacenet' || id === 'faceplugin-mobilefacenet') return loadModelFileRecognizer(id, read, entry);
  return loadHumanGraphRecognizer(id, read, entry);
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
