/**
 * The protect page's store-only ZIP writer, checked against independent readers: Node's zlib.crc32 for the checksum
 * and Info-ZIP's `unzip` (test integrity, list, extract) for the archive. Without `unzip` on the machine those
 * checks are skipped with a diagnostic; the checksum and structure checks still run.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as zlib from 'node:zlib';
import { crc32, uniqueNames, zipStore } from '../../../src/pages/protect/zip.ts';

const hasUnzip = spawnSync('unzip', ['-v']).status === 0;
const nodeCrc32 = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;

describe('crc32', () => {
  test('known values', () => {
    assert.equal(crc32(new Uint8Array()), 0);
    assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926); // The standard check value.
    assert.equal(crc32(new TextEncoder().encode('The quick brown fox jumps over the lazy dog')), 0x414fa339);
  });

  test('matches zlib on random data, and continues across pieces', { skip: !nodeCrc32 && 'no zlib.crc32 in this Node' }, () => {
    for (const size of [1, 7, 255, 4096, 100_003]) {
      const bytes = new Uint8Array(randomBytes(size));
      assert.equal(crc32(bytes), nodeCrc32!(bytes), `size ${size}`);
      const cut = size >> 1;
      assert.equal(crc32(bytes.subarray(cut), crc32(bytes.subarray(0, cut))), crc32(bytes), `pieces of ${size}`);
    }
  });
});

describe('zipStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'face-cloak-zip-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const files = [
    { name: 'beach day-cloaked.jpg', bytes: new Uint8Array(randomBytes(150_001)) },
    { name: 'wall.png', bytes: new Uint8Array(randomBytes(3)) },
    { name: 'Ünïcødé 写真-cloaked.webp', bytes: new Uint8Array(randomBytes(1024)) },
    { name: 'empty.txt', bytes: new Uint8Array() },
  ];

  test('local headers and central directory agree with the input', () => {
    const zip = zipStore(files);
    const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    const end = zip.length - 22;
    assert.equal(view.getUint32(end, true), 0x06054b50);
    assert.equal(view.getUint16(end + 10, true), files.length);
    let central = view.getUint32(end + 16, true);
    for (const file of files) {
      assert.equal(view.getUint32(central, true), 0x02014b50);
      const crc = view.getUint32(central + 16, true);
      const size = view.getUint32(central + 24, true);
      const nameLength = view.getUint16(central + 28, true);
      const local = view.getUint32(central + 42, true);
      assert.equal(new TextDecoder().decode(zip.subarray(central + 46, central + 46 + nameLength)), file.name);
      assert.equal(size, file.bytes.length);
      assert.equal(crc, crc32(file.bytes));
      assert.equal(view.getUint32(local, true), 0x04034b50);
      const dataStart = local + 30 + view.getUint16(local + 26, true);
      assert.deepEqual(zip.subarray(dataStart, dataStart + size), file.bytes);
      central += 46 + nameLength;
    }
    assert.equal(central, end, 'the central directory ends where the end record starts');
  });

  test('unzip -t finds no error, and extracts the same names and bytes', { skip: !hasUnzip && 'no unzip here' }, () => {
    const path = join(dir, 'photos.zip');
    writeFileSync(path, zipStore(files));
    const tested = spawnSync('unzip', ['-t', path], { encoding: 'utf8' });
    assert.equal(tested.status, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /No errors detected/);

    const out = join(dir, 'out');
    const extracted = spawnSync('unzip', ['-q', path, '-d', out], { encoding: 'utf8' });
    assert.equal(extracted.status, 0, extracted.stdout + extracted.stderr);
    for (const file of files) assert.deepEqual(new Uint8Array(readFileSync(join(out, file.name))), file.bytes, file.name);
  });

  test('a corrupted byte is caught by unzip -t (the CRC is really checked)', { skip: !hasUnzip && 'no unzip here' }, () => {
    const zip = zipStore(files.slice(0, 1));
    zip[30 + new TextEncoder().encode(files[0]!.name).length + 10]! ^= 0xff; // A byte of the first file's data.
    const path = join(dir, 'bad.zip');
    writeFileSync(path, zip);
    const tested = spawnSync('unzip', ['-t', path], { encoding: 'utf8' });
    assert.notEqual(tested.status, 0);
    assert.match(tested.stdout, /bad CRC/);
  });

  test('modification times survive at 2 s resolution', { skip: !hasUnzip && 'no unzip here' }, () => {
    const modified = new Date(2024, 2, 15, 13, 45, 31);
    const path = join(dir, 'time.zip');
    writeFileSync(path, zipStore([{ name: 'a.jpg', bytes: new Uint8Array([1, 2, 3]), modified }]));
    const listed = spawnSync('unzip', ['-Z', '-T', path], { encoding: 'utf8' });
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /20240315\.134530 a\.jpg/);
  });

  test('an empty archive is valid', { skip: !hasUnzip && 'no unzip here' }, () => {
    const path = join(dir, 'empty.zip');
    writeFileSync(path, zipStore([]));
    assert.equal(readFileSync(path).length, 22);
    const listed = spawnSync('unzip', ['-l', path], { encoding: 'utf8' });
    // Info-ZIP says "zipfile is empty" with status 1 for an archive without entries: that is its verdict, not an error.
    assert.match(listed.stdout + listed.stderr, /empty/);
  });

  test('names are refused when empty', () => {
    assert.throws(() => zipStore([{ name: '', bytes: new Uint8Array(1) }]), RangeError);
  });
});

describe('uniqueNames', () => {
  test('repeats get a number before the extension, case-insensitively', () => {
    assert.deepEqual(uniqueNames(['a.jpg', 'b.jpg', 'A.jpg', 'a.jpg', 'a (2).jpg', 'noext', 'noext']), [
      'a.jpg',
      'b.jpg',
      'A (2).jpg',
      'a (3).jpg',
      'a (2) (2).jpg',
      'noext',
      'noext (2)',
    ]);
  });
});
