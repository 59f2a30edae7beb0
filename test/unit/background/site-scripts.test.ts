import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addedSiteMatches, grantedSites } from '../../../src/background/site-scripts.ts';
import { createDefaultSettings } from '../../../src/shared/settings.ts';

test('addedSiteMatches: granted added sites that are on; builtin sites and sites switched off left out', () => {
  const settings = createDefaultSettings();
  settings.sites['example.org'] = { enabled: true, strength: 'mid' };
  settings.sites['quiet.example'] = { enabled: false, strength: 'mid' };
  const granted = [
    'https://*.x.com/*', // builtin: the manifest's content scripts cover it
    'https://*.example.org/*',
    'https://*.quiet.example/*',
    'https://*.never-configured.net/*', // follows otherSites: off by default
  ];
  assert.deepEqual(addedSiteMatches(granted, settings), ['https://*.example.org/*']);
  settings.otherSites.enabled = true;
  assert.deepEqual(addedSiteMatches(granted, settings), ['https://*.example.org/*', 'https://*.never-configured.net/*']);
});

test('addedSiteMatches: a grant for every host is used only when some added site can be on', () => {
  const settings = createDefaultSettings();
  assert.deepEqual(addedSiteMatches(['https://*/*'], settings), []);
  settings.sites['example.org'] = { enabled: true, strength: 'low' };
  assert.deepEqual(addedSiteMatches(['https://*/*', 'not a pattern'], settings), ['https://*/*']);
});

test('grantedSites: the added sites of granted patterns, not builtin ones nor every-host grants', () => {
  assert.deepEqual(grantedSites(['https://*.example.org/*', 'http://www.blog.example/*', 'https://*.x.com/*', 'https://*/*']), [
    'example.org',
    'blog.example',
  ]);
});
