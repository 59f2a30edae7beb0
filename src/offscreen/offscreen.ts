/**
 * The offscreen document (Chromium) or background iframe (Firefox): the one extension document that runs tfjs.
 * It starts tfjs on the best backend right away and answers 'offscreen:*' messages. The engine adds its handlers
 * (analyze, cloak) here and their definitions in src/shared/messages.ts.
 */
import { handleMessages } from '../shared/messages.ts';
import { startBestBackend } from '../shared/tf-backend.ts';

const backend = startBestBackend().then(
  (name) => {
    console.info(`[face-cloak] engine backend: ${name}`);
    return name;
  },
  (error: unknown) => {
    console.error('[face-cloak] no tfjs backend could start:', error);
    throw error;
  },
);

handleMessages<'offscreen'>({
  'offscreen:status': async () => ({ backend: await backend }),
});
