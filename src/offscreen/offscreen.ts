/**
 * The offscreen document (Chromium) or background iframe (Firefox): the one extension document that runs tfjs.
 * It starts tfjs on the best backend right away and answers 'offscreen:*' messages: status, and the cloak jobs
 * (cloak-jobs.ts) the background feeds it on behalf of content scripts and the context menu, and learning
 * personal masks for the options page.
 */
import { handleMessages, sendMessage } from '../shared/messages.ts';
import { startBestBackend } from '../shared/tf-backend.ts';
import { CloakJobs } from './cloak-jobs.ts';

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

/** Progress goes to the background, which forwards it to the tab that asked; it says when the job is orphaned. */
const jobs = new CloakJobs(
  backend,
  {
    cloak: async (job, progress) => (await sendMessage('background:cloakProgress', { job, progress })).wanted,
    mask: async (job, progress) => (await sendMessage('background:maskProgress', { job, progress })).wanted,
  },
  {
    cloak: (record) => sendMessage('background:recordCloak', record),
    estimate: (id, estimate) => sendMessage('background:recordEstimate', { id, estimate }),
  },
);

handleMessages<'offscreen'>({
  'offscreen:status': async () => ({
    backend: await backend,
    tensors: jobs.tensors(),
    engineLoaded: jobs.engineLoaded,
    models: await jobs.loadedModels(),
    estimatesPending: jobs.estimatesPending,
  }),
  'offscreen:cloakStart': (payload) => jobs.start(payload),
  'offscreen:cloakChunk': (payload) => jobs.chunk(payload),
  'offscreen:cloakRun': ({ job }) => jobs.run(job),
  'offscreen:learnMask': (payload) => jobs.learnMask(payload),
  'offscreen:cloakTake': (payload) => jobs.take(payload),
  'offscreen:cloakRelease': ({ job }) => jobs.release(job),
});
