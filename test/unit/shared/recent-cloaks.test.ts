import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_RECENT_CLOAKS,
  type RecentCloak,
  isRecentCloak,
  parseRecentCloaks,
  pruneRecentCloaks,
} from '../../../src/shared/recent-cloaks.ts';

const DAY = 24 * 3600 * 1000;
const thumb = 'data:image/jpeg;base64,/9j/4AAQSkZJRg==';

function record(id: string, at: number, overrides: Partial<RecentCloak> = {}): RecentCloak {
  return {
    id,
    at,
    source: 'upload',
    site: 'x.com',
    strength: 'mid',
    width: 640,
    height: 480,
    faces: 1,
    skippedSmallFaces: 0,
    totalMs: 9000,
    minFaceSsim: 0.93,
    before: thumb,
    after: thumb,
    estimate: { state: 'pending' },
    ...overrides,
  };
}

test('pruneRecentCloaks keeps the records of the last `days`, newest first, at most MAX_RECENT_CLOAKS', () => {
  const now = 100 * DAY;
  const records = [record('old', now - 8 * DAY), record('a', now - 2 * DAY), record('b', now - 1000)];
  assert.deepEqual(pruneRecentCloaks(records, now, 7).map((r) => r.id), ['b', 'a']);
  assert.deepEqual(pruneRecentCloaks(records, now, 1).map((r) => r.id), ['b']);
  assert.deepEqual(pruneRecentCloaks(records, now, 0), []);
  const many = Array.from({ length: MAX_RECENT_CLOAKS + 5 }, (_, i) => record(`r${i}`, now - i * 1000));
  const kept = pruneRecentCloaks(many, now, 30);
  assert.equal(kept.length, MAX_RECENT_CLOAKS);
  assert.equal(kept[0].id, 'r0');
  // A clock set back must not keep records "from the future" forever.
  assert.deepEqual(pruneRecentCloaks([record('future', now + 10 * DAY)], now, 30), []);
});

test('parseRecentCloaks drops anything that is not a well-formed record', () => {
  const good = record('good', 1);
  const done = record('done', 2, {
    estimate: {
      state: 'done',
      value: { recognizers: [], defenses: [], faces: 1, unjudgedFaces: 0, cells: [], heldOutProtection: 0.5, ms: 1 },
    },
  });
  assert.ok(isRecentCloak(good));
  assert.ok(isRecentCloak(done));
  const bad = [
    { ...good, before: 'https://tracker.example/pixel.gif' }, // thumbnails are data: URLs, never remote
    { ...good, estimate: { state: 'done' } },
    { ...good, strength: 'max' },
    { ...good, id: '' },
    null,
    'record',
  ];
  assert.deepEqual(parseRecentCloaks([good, ...bad, done]).map((r) => r.id), ['good', 'done']);
  assert.deepEqual(parseRecentCloaks({ not: 'an array' }), []);
});
