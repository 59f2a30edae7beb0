// The message protocol against a fake chrome.runtime that delivers like Chromium: to every listener of every other
// context, first reply wins, a listener keeps the channel open by returning true.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  CLOAK_CHUNK_BYTES,
  type HandlerMap,
  MAX_CLOAK_FILE_BYTES,
  MessageError,
  base64DecodedLength,
  base64Into,
  bytesToBase64,
  handleMessages,
  isCloakClientMessage,
  isMaskClientMessage,
  MAX_MASK_PHOTOS,
  sendMessage,
  senderAccess,
} from '../../../src/shared/messages.ts';
import { createDefaultSettings } from '../../../src/shared/settings.ts';

const ID = 'abcdefghijklmnopabcdefghijklmnop';
const BASE = `chrome-extension://${ID}/`;
type Sender = chrome.runtime.MessageSender;
type Listener = (message: unknown, sender: Sender, sendResponse: (reply: unknown) => void) => boolean | undefined;

const popup: Sender = { id: ID, url: `${BASE}popup.html`, origin: BASE.slice(0, -1) };
const contentScript: Sender = { id: ID, url: 'https://x.com/home', origin: 'https://x.com', tab: { id: 7 } as chrome.tabs.Tab };
const otherExtension: Sender = { id: 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz', url: 'chrome-extension://zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz/x.html' };

let listeners: Set<Listener>;
/** Who the next sendMessage comes from. */
let from: Sender;

beforeEach(() => {
  listeners = new Set();
  from = popup;
  const runtime = {
    id: ID,
    getURL: (path: string) => BASE + path,
    onMessage: {
      addListener: (listener: Listener) => listeners.add(listener),
      removeListener: (listener: Listener) => listeners.delete(listener),
    },
    sendMessage: (message: unknown) =>
      new Promise((resolve, reject) => {
        if (listeners.size === 0) {
          reject(new Error('Could not establish connection. Receiving end does not exist.'));
          return;
        }
        let answered = false;
        const respond = (reply: unknown) => {
          if (!answered) resolve(reply);
          answered = true;
        };
        const open = [...listeners].map((listener) => listener(structuredClone(message), from, respond) === true);
        if (!open.some(Boolean)) respond(undefined);
      }),
  };
  Object.assign(globalThis, { chrome: { runtime } });
});

afterEach(() => {
  Reflect.deleteProperty(globalThis, 'chrome');
});

function backgroundHandlers(overrides: Partial<HandlerMap<'background'>> = {}): HandlerMap<'background'> {
  return {
    'background:getSettings': () => createDefaultSettings(),
    'background:setSiteSettings': ({ patch }) => ({ enabled: true, strength: 'mid', ...patch }),
    'background:getSiteSettings': (_payload, sender) => ({ site: sender.url ?? null, settings: { enabled: true, strength: 'low' } }),
    'background:engineStatus': async () => ({ backend: 'wasm' }),
    'background:cloakProgress': () => ({ wanted: false }),
    'background:protectImage': () => ({ status: 'opened', tabId: 2, handoff: 'h' }),
    'background:takeImageHandoff': () => null,
    'background:getUploadPolicy': () => ({ cloakTimeoutSeconds: 180, onCloakFailure: 'ask' }),
    'background:updateSettings': () => createDefaultSettings(),
    'background:removeSite': () => createDefaultSettings(),
    'background:importSettings': () => createDefaultSettings(),
    'background:resetSettings': () => createDefaultSettings(),
    'background:getRecentCloaks': () => [],
    'background:clearRecentCloaks': () => undefined,
    'background:recordCloak': () => undefined,
    'background:recordEstimate': () => undefined,
    'background:getPersonalMask': () => null,
    'background:deletePersonalMask': () => undefined,
    'background:maskProgress': () => ({ wanted: false }),
    ...overrides,
  };
}

function offscreenHandlers(overrides: Partial<HandlerMap<'offscreen'>> = {}): HandlerMap<'offscreen'> {
  const unused = () => assert.fail('not used in this test');
  return {
    'offscreen:status': () => ({ backend: 'cpu' }),
    'offscreen:cloakStart': unused,
    'offscreen:cloakChunk': unused,
    'offscreen:cloakRun': unused,
    'offscreen:cloakTake': unused,
    'offscreen:learnMask': unused,
    'offscreen:cloakRelease': unused,
    ...overrides,
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<MessageError> {
  const error = await promise.then(
    () => assert.fail(`expected a MessageError '${code}'`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof MessageError, String(error));
  assert.equal(error.code, code, error.message);
  return error;
}

describe('sendMessage and handleMessages', () => {
  test('a round trip returns the handler result', async () => {
    handleMessages<'background'>(backgroundHandlers());
    assert.deepEqual(await sendMessage('background:getSettings'), createDefaultSettings());
    assert.deepEqual(await sendMessage('background:setSiteSettings', { site: 'x.com', patch: { strength: 'high' } }), {
      enabled: true,
      strength: 'high',
    });
    assert.deepEqual(await sendMessage('background:engineStatus'), { backend: 'wasm' });
  });

  test('a handler error arrives as a MessageError with its message', async () => {
    handleMessages<'background'>(
      backgroundHandlers({ 'background:engineStatus': () => Promise.reject(new Error('no backend starts')) }),
    );
    const error = await rejectsWith(sendMessage('background:engineStatus'), 'handler-failed');
    assert.match(error.message, /no backend starts/);
  });

  test('each context answers only its own target; the other handler maps stay silent', async () => {
    let offscreenCalls = 0;
    handleMessages<'offscreen'>(
      offscreenHandlers({
        'offscreen:status': () => {
          offscreenCalls += 1;
          return { backend: 'cpu' };
        },
      }),
    );
    handleMessages<'background'>(backgroundHandlers());
    assert.deepEqual(await sendMessage('offscreen:status'), { backend: 'cpu' });
    await sendMessage('background:getSettings');
    assert.equal(offscreenCalls, 1);
  });

  test('nobody handling the message is a no-receiver error', async () => {
    await rejectsWith(sendMessage('offscreen:status'), 'no-receiver'); // No listener at all.
    handleMessages<'background'>(backgroundHandlers());
    await rejectsWith(sendMessage('offscreen:status'), 'no-receiver'); // Listeners, none for this name.
  });

  test('the returned function unregisters the handlers', async () => {
    const stop = handleMessages<'background'>(backgroundHandlers());
    stop();
    await rejectsWith(sendMessage('background:getSettings'), 'no-receiver');
  });

  test('timeoutMs rejects a reply that does not come', async () => {
    handleMessages<'background'>(backgroundHandlers({ 'background:engineStatus': () => new Promise(() => {}) }));
    await rejectsWith(sendMessage('background:engineStatus', undefined, { timeoutMs: 20 }), 'timeout');
  });

  test('messages that are not ours are ignored', () => {
    handleMessages<'background'>(backgroundHandlers());
    const [listener] = listeners;
    const respond = () => assert.fail('must not answer');
    for (const message of [{ name: 'background:getSettings' }, 'background:getSettings', { faceCloak: 1, name: 'toString' }]) {
      assert.equal(listener(message, popup, respond), false);
    }
  });
});

describe('sender checks', () => {
  test('extension pages have extension access, content scripts content access, others none', () => {
    assert.equal(senderAccess(popup), 'extension');
    assert.equal(senderAccess({ id: ID, url: `${BASE}background.js` }), 'extension');
    assert.equal(senderAccess(contentScript), 'content');
    assert.equal(senderAccess(otherExtension), null);
    assert.equal(senderAccess({ id: ID, url: 'https://x.com/' }), null); // Neither our page nor a tab.
  });

  test('content scripts may not send privileged messages; the handler never runs', async () => {
    let calls = 0;
    handleMessages<'background'>(
      backgroundHandlers({
        'background:getSettings': () => {
          calls += 1;
          return createDefaultSettings();
        },
      }),
    );
    from = contentScript;
    await rejectsWith(sendMessage('background:getSettings'), 'forbidden');
    await rejectsWith(sendMessage('background:setSiteSettings', { site: 'x.com', patch: { enabled: false } }), 'forbidden');
    assert.equal(calls, 0);
  });

  test('content scripts may send content messages, and the handler sees the real sender', async () => {
    handleMessages<'background'>(backgroundHandlers());
    from = contentScript;
    assert.deepEqual(await sendMessage('background:getSiteSettings'), {
      site: 'https://x.com/home',
      settings: { enabled: true, strength: 'low' },
    });
  });

  test('another extension is refused everything', async () => {
    handleMessages<'background'>(backgroundHandlers());
    from = otherExtension;
    await rejectsWith(sendMessage('background:getSiteSettings'), 'forbidden');
  });

  test('payloads are checked before the handler runs', async () => {
    handleMessages<'background'>(backgroundHandlers());
    const bad = [
      { site: 'x.com', patch: { enabled: 'no' } },
      { site: 'x.com', patch: { strength: 'max' } },
      { site: 'x.com', patch: { admin: true } },
      { patch: {} },
    ];
    for (const payload of bad) {
      // @ts-expect-error -- deliberately wrong payloads, as a compromised sender could send them.
      await rejectsWith(sendMessage('background:setSiteSettings', payload), 'invalid-payload');
    }
    for (const seconds of [0, -5, 1.5, 3601, '60', Number.NaN, null]) {
      // @ts-expect-error -- deliberately wrong payloads.
      await rejectsWith(sendMessage('background:updateSettings', { cloakTimeoutSeconds: seconds }), 'invalid-payload');
    }
    assert.equal((await sendMessage('background:updateSettings', { cloakTimeoutSeconds: 1 })).version, 1);
    from = contentScript;
    // @ts-expect-error -- getSiteSettings takes no payload.
    await rejectsWith(sendMessage('background:getSiteSettings', { site: 'facebook.com' }), 'invalid-payload');
    // A content script may read the upload policy, never set it.
    assert.deepEqual(await sendMessage('background:getUploadPolicy'), { cloakTimeoutSeconds: 180, onCloakFailure: 'ask' });
    await rejectsWith(sendMessage('background:updateSettings', { onCloakFailure: 'original' }), 'forbidden');
    // Only extension pages may say where a photo came from; the start message's check still rejects a bad site.
    assert.ok(!isCloakClientMessage({ type: 'start', size: 10, mime: 'image/png', source: 'protect-image', site: 'not a site' }));
    assert.ok(!isCloakClientMessage({ type: 'start', size: 10, mime: 'image/png', source: 'upload' }));
    assert.ok(isCloakClientMessage({ type: 'start', size: 10, mime: 'image/png', source: 'protect-image', site: 'x.com' }));
  });
});

describe('cloak port protocol', () => {
  test('base64 round trip at every padding length, and the decoded length is known before decoding', () => {
    for (const length of [0, 1, 2, 3, 4, 5, 100_000]) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + 7) & 255);
      const data = bytesToBase64(bytes);
      assert.equal(data, Buffer.from(bytes).toString('base64'));
      assert.equal(base64DecodedLength(data), length);
      const target = new Uint8Array(length + 3);
      assert.equal(base64Into(data, target, 3), length);
      assert.deepEqual(target.subarray(3), bytes);
    }
    assert.throws(() => base64Into(bytesToBase64(new Uint8Array(4)), new Uint8Array(5), 2), RangeError);
  });

  test('what a content script may send is checked field by field', () => {
    const good = [
      { type: 'start', size: 1, mime: 'image/jpeg' },
      { type: 'start', size: MAX_CLOAK_FILE_BYTES, mime: '', strength: 'low' },
      { type: 'chunk', data: 'AAAA' },
      { type: 'chunk', data: 'A'.repeat(Math.ceil(CLOAK_CHUNK_BYTES / 3) * 4) },
      { type: 'ping' },
    ];
    for (const message of good) assert.equal(isCloakClientMessage(message), true, JSON.stringify(message).slice(0, 80));
    const bad = [
      null,
      'start',
      { type: 'start', size: 0, mime: 'image/jpeg' },
      { type: 'start', size: 1.5, mime: 'image/jpeg' },
      { type: 'start', size: MAX_CLOAK_FILE_BYTES + 1, mime: 'image/jpeg' },
      { type: 'start', size: '10', mime: 'image/jpeg' },
      { type: 'start', size: 10, mime: 'x'.repeat(201) },
      { type: 'start', size: 10, mime: 'image/png', strength: 'max' },
      { type: 'chunk', data: '' },
      { type: 'chunk', data: 'AAA' },
      { type: 'chunk', data: 'AA!A' },
      { type: 'chunk', data: 'A'.repeat(Math.ceil(CLOAK_CHUNK_BYTES / 3) * 4 + 4) },
      { type: 'chunk', data: [1, 2, 3] },
      { type: 'result' },
    ];
    for (const message of bad) assert.equal(isCloakClientMessage(message), false, JSON.stringify(message)?.slice(0, 80));
  });
});

describe('personal mask port protocol', () => {
  test('what the options page may send is checked field by field', () => {
    const good = [
      { type: 'start', sizes: [1] },
      { type: 'start', sizes: Array.from({ length: MAX_MASK_PHOTOS }, () => MAX_CLOAK_FILE_BYTES) },
      { type: 'chunk', data: 'AAAA' },
      { type: 'ping' },
    ];
    for (const message of good) assert.equal(isMaskClientMessage(message), true, JSON.stringify(message).slice(0, 80));
    const bad = [
      null,
      { type: 'start' },
      { type: 'start', sizes: [] },
      { type: 'start', sizes: Array.from({ length: MAX_MASK_PHOTOS + 1 }, () => 10) },
      { type: 'start', sizes: [10, 0] },
      { type: 'start', sizes: [10, 2.5] },
      { type: 'start', sizes: [MAX_CLOAK_FILE_BYTES + 1] },
      { type: 'start', sizes: '10' },
      { type: 'chunk', data: 'AAA' },
      { type: 'result' },
    ];
    for (const message of bad) assert.equal(isMaskClientMessage(message), false, JSON.stringify(message)?.slice(0, 80));
  });
});
