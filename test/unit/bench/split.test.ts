import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeSplit, splitIdentity } from '../../../bench/protection/split.ts';

const ids = Array.from({ length: 15 }, (_, i) => `x/${String(i + 1).padStart(2, '0')}`);

test('split: same seed gives the same split, whatever the input order', () => {
  const a = splitIdentity(ids, 'x', 3);
  const b = splitIdentity(ids.slice().reverse(), 'x', 3);
  assert.deepEqual(a, b);
});

test('split: gallery and probes are disjoint, cover every photo, gallery = ceil(n/2)', () => {
  for (const n of [1, 2, 3, 6, 15]) {
    for (let seed = 0; seed < 5; seed++) {
      const s = splitIdentity(ids.slice(0, n), 'x', seed);
      assert.equal(s.gallery.length, Math.ceil(n / 2));
      assert.equal(s.gallery.length + s.probes.length, n);
      assert.equal(s.gallery.filter((g) => s.probes.includes(g)).length, 0);
      assert.deepEqual([...s.gallery, ...s.probes].sort(), ids.slice(0, n));
    }
  }
});

test('split: different seeds and different identities give different splits', () => {
  const bySeed = new Set(Array.from({ length: 5 }, (_, seed) => splitIdentity(ids, 'x', seed).gallery.join()));
  assert.ok(bySeed.size >= 4, `only ${bySeed.size} distinct splits over 5 seeds`);
  assert.notDeepEqual(splitIdentity(ids, 'x', 0), splitIdentity(ids, 'y', 0));
});

test('makeSplit splits every identity', () => {
  const split = makeSplit(new Map([['a', ['a/1', 'a/2']], ['b', ['b/1', 'b/2', 'b/3', 'b/4']]]), 0);
  assert.deepEqual([...split.keys()], ['a', 'b']);
  assert.equal(split.get('b')!.probes.length, 2);
  assert.equal(split.get('a')!.gallery.length, 1);
});
