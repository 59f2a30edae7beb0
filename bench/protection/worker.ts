/**
 * Worker process for `--workers N`: measures the photos the parent sends, one at a time, with its own models.
 * Protocol (advanced serialisation, so Float32Arrays cross as they are):
 *   parent -> {type:'init', config} | {type:'measure', index, photo} | {type:'done'}
 *   child  -> {type:'ready', backend, cloakers} | {type:'result', index, result, analyses} | {type:'timings', timings}
 *           | {type:'error', message}
 */
import type { FixturePhoto } from '../lib/fixtures.ts';
import { type MeasureConfig, type Measurer, createMeasurer } from './measure.ts';

type Message = { type: 'init'; config: MeasureConfig } | { type: 'measure'; index: number; photo: FixturePhoto } | { type: 'done' };

let measurer: Measurer | undefined;
const send = (message: unknown) => process.send!(message);

process.on('message', (message: Message) => {
  void (async () => {
    try {
      if (message.type === 'init') {
        measurer = await createMeasurer(message.config);
        send({ type: 'ready', backend: measurer.backend, cloakers: measurer.cloakers });
      } else if (message.type === 'measure') {
        const before = measurer!.timings.analyses;
        const result = await measurer!.measure(message.photo);
        send({ type: 'result', index: message.index, result, analyses: measurer!.timings.analyses - before });
      } else {
        measurer?.dispose();
        send({ type: 'timings', timings: measurer?.timings });
        process.disconnect();
      }
    } catch (error) {
      send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
  })();
});
