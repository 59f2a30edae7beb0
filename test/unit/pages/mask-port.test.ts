import assert from 'node:assert/strict';
import { test } from 'node:test';
import { photosProblem } from '../../../src/pages/options/mask-port.ts';
import { MAX_CLOAK_FILE_BYTES, MAX_MASK_PHOTOS } from '../../../src/shared/messages.ts';

test('photos for a personal mask: 1 to MAX_MASK_PHOTOS, none empty or too large, each refusal names the problem', () => {
  const photo = (name: string, size = 1000) => ({ name, size });
  assert.equal(photosProblem([photo('a.jpg')]), null);
  assert.equal(photosProblem(Array.from({ length: MAX_MASK_PHOTOS }, (_, i) => photo(`${i}.jpg`))), null);
  assert.match(photosProblem([])!, /at least one photo/);
  assert.match(photosProblem(Array.from({ length: MAX_MASK_PHOTOS + 1 }, (_, i) => photo(`${i}.jpg`)))!, /at most 8/);
  assert.match(photosProblem([photo('a.jpg'), photo('empty.jpg', 0)])!, /empty\.jpg is empty/);
  assert.match(photosProblem([photo('big.jpg', MAX_CLOAK_FILE_BYTES + 1)])!, /big\.jpg is too large/);
});
