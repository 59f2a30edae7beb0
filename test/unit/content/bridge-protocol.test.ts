// The checks on messages between the page world and the isolated content script: whatever the page world sends
// (it shares its realm with the page) is refused unless it has exactly the expected shape.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_BATCH_FILES, isIsolatedMessage, isPageMessage } from '../../../src/content/bridge-protocol.ts';

const photo = new File([new Uint8Array([1, 2, 3])], 'a.jpg', { type: 'image/jpeg' });
const anchor = { x: 1, y: 2, width: 3, height: 4 };

test('page messages: a well-formed cloak request and abort pass', () => {
  assert.ok(isPageMessage({ type: 'cloak', id: 1, source: 'input', files: [photo], anchor }));
  assert.ok(isPageMessage({ type: 'cloak', id: 7, source: 'drop', files: [photo, photo], anchor: null }));
  assert.ok(isPageMessage({ type: 'abort', id: 3 }));
});

test('page messages: anything else is refused', () => {
  const bad: unknown[] = [
    null,
    'cloak',
    { type: 'cloak', id: 0, source: 'input', files: [photo], anchor: null },
    { type: 'cloak', id: 1.5, source: 'input', files: [photo], anchor: null },
    { type: 'cloak', id: 1, source: 'fetch', files: [photo], anchor: null },
    { type: 'cloak', id: 1, source: 'input', files: [], anchor: null },
    { type: 'cloak', id: 1, source: 'input', files: [{ name: 'a.jpg', size: 3 }], anchor: null },
    { type: 'cloak', id: 1, source: 'input', files: [new Blob(['x'])], anchor: null },
    { type: 'cloak', id: 1, source: 'input', files: 'a.jpg', anchor: null },
    { type: 'cloak', id: 1, source: 'input', files: Array(MAX_BATCH_FILES + 1).fill(photo), anchor: null },
    { type: 'cloak', id: 1, source: 'input', files: [photo], anchor: { x: 1, y: 2, width: Infinity, height: 4 } },
    { type: 'cloak', id: 1, source: 'input', files: [photo] },
    { type: 'abort' },
    { type: 'settings', enabled: true, id: 1 },
  ];
  for (const message of bad) assert.equal(isPageMessage(message), false, JSON.stringify(message));
});

test('isolated messages: outcomes must be originals or real files', () => {
  assert.ok(isIsolatedMessage({ type: 'settings', enabled: false }));
  assert.ok(isIsolatedMessage({ type: 'cancelled', id: 2 }));
  assert.ok(isIsolatedMessage({ type: 'done', id: 2, outcomes: [{ kind: 'original' }, { kind: 'cloaked', file: photo }] }));
  assert.equal(isIsolatedMessage({ type: 'done', id: 2, outcomes: [{ kind: 'cloaked', file: 'x' }] }), false);
  assert.equal(isIsolatedMessage({ type: 'done', id: 2, outcomes: [{ kind: 'other' }] }), false);
  assert.equal(isIsolatedMessage({ type: 'done', id: 2 }), false);
  assert.equal(isIsolatedMessage({ type: 'settings', enabled: 'yes' }), false);
});

test('a File from another realm is refused when the realm says so', () => {
  class OtherFile extends File {}
  assert.equal(isPageMessage({ type: 'cloak', id: 1, source: 'paste', files: [photo], anchor: null }, OtherFile), false);
});
