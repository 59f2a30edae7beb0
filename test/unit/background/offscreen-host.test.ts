import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffscreenHost } from '../../../src/background/offscreen-host.ts';

/**
 * A document seam that behaves as Chromium's: the document is listed (`exists`) as soon as creation starts, but its
 * message handlers are registered (`ready`) only when `create()` resolves, which the test decides (`finishLoading`).
 */
function chromiumLikeSeam() {
  const seam = {
    listed: false,
    ready: false,
    creations: 0,
    closes: 0,
    finishLoading: () => {},
    async exists() {
      return seam.listed;
    },
    create() {
      seam.creations += 1;
      seam.listed = true;
      return new Promise<void>((resolve) => {
        seam.finishLoading = () => {
          seam.ready = true;
          resolve();
        };
      });
    },
    async close() {
      seam.closes += 1;
      seam.listed = false;
      seam.ready = false;
    },
  };
  return seam;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test('a use() that starts while the document is still loading waits until its handlers are registered', async () => {
  const seam = chromiumLikeSeam();
  const host = new OffscreenHost(seam, 60_000);
  const readyWhenRun: boolean[] = [];
  const task = async () => {
    readyWhenRun.push(seam.ready);
  };
  const first = host.use(task); // e.g. the popup's engine status: starts creating the document
  await tick();
  assert.equal(seam.listed, true, 'the document is listed before it has loaded');
  const second = host.use(task); // e.g. learning a mask right after: the document "exists" already
  await tick();
  assert.deepEqual(readyWhenRun, [], 'no task ran before the document loaded');
  seam.finishLoading();
  await Promise.all([first, second]);
  assert.deepEqual(readyWhenRun, [true, true]);
  assert.equal(seam.creations, 1, 'one document for both');
});

test('the document closes once no use() needed it for the idle time, and the next use() opens a new one', async () => {
  const seam = chromiumLikeSeam();
  const host = new OffscreenHost(seam, 20);
  const using = host.use(async () => seam.ready);
  await tick();
  seam.finishLoading();
  assert.equal(await using, true);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(seam.closes, 1);
  assert.equal(seam.listed, false);

  const again = host.use(async () => seam.ready);
  await tick();
  seam.finishLoading();
  assert.equal(await again, true);
  assert.equal(seam.creations, 2);
});

test('a document kept open by a long use() is not closed under it', async () => {
  const seam = chromiumLikeSeam();
  const host = new OffscreenHost(seam, 20);
  let finish = () => {};
  const long = host.use(() => new Promise<void>((resolve) => (finish = resolve)));
  await tick();
  seam.finishLoading();
  await host.use(async () => undefined); // A short use ends first: its idle timer must not close the document.
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(seam.closes, 0);
  finish();
  await long;
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(seam.closes, 1);
});
