import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cloakedFileName, refusalReason } from '../../../src/pages/protect/files.ts';
import { MAX_CLOAK_FILE_BYTES } from '../../../src/shared/messages.ts';

describe('refusalReason', () => {
  const file = (name: string, type: string, size = 1000) => ({ name, type, size });

  test('photos the engine reads are taken', () => {
    for (const [name, type] of [
      ['a.jpg', 'image/jpeg'],
      ['a.png', 'image/png'],
      ['a.webp', 'image/webp'],
      ['a.gif', 'image/gif'],
      ['a.avif', 'image/avif'],
      ['a.bmp', 'image/bmp'],
      ['a.JPG', ''], // No type from the system: the extension decides, the engine checks the bytes.
    ]) {
      assert.equal(refusalReason(file(name!, type!)), null, name);
    }
  });

  test('everything else is refused with a reason a person understands', () => {
    assert.match(refusalReason(file('notes.txt', 'text/plain'))!, /^Not an image/);
    assert.match(refusalReason(file('clip.mp4', 'video/mp4'))!, /a video/);
    assert.match(refusalReason(file('logo.svg', 'image/svg+xml'))!, /SVG/);
    assert.match(refusalReason(file('IMG_1.HEIC', ''))!, /HEIC/);
    assert.match(refusalReason(file('a.tiff', 'image/tiff'))!, /TIFF image/);
    assert.match(refusalReason(file('noext', ''))!, /^Not an image/);
    assert.match(refusalReason(file('a.jpg', 'image/jpeg', 0))!, /empty/);
    assert.match(refusalReason(file('a.jpg', 'image/jpeg', MAX_CLOAK_FILE_BYTES + 1))!, /Too large/);
  });
});

describe('cloakedFileName', () => {
  test('"-cloaked" before the extension, which stays as written when the format stayed', () => {
    assert.equal(cloakedFileName('beach day.jpg', 'image/jpeg', false), 'beach day-cloaked.jpg');
    assert.equal(cloakedFileName('IMG.JPEG', 'image/jpeg', false), 'IMG-cloaked.JPEG');
    assert.equal(cloakedFileName('a.b.png', 'image/png', false), 'a.b-cloaked.png');
    assert.equal(cloakedFileName('w.webp', 'image/webp', false), 'w-cloaked.webp');
  });

  test('a format that became PNG gets .png; no extension gets the output one', () => {
    assert.equal(cloakedFileName('party.gif', 'image/png', false), 'party-cloaked.png');
    assert.equal(cloakedFileName('photo', 'image/jpeg', false), 'photo-cloaked.jpg');
    assert.equal(cloakedFileName('.hidden', 'image/png', false), '.hidden-cloaked.png');
  });

  test('an unchanged photo keeps its name', () => {
    assert.equal(cloakedFileName('wall.png', '', true), 'wall.png');
  });
});
