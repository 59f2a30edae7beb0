/**
 * End-to-end checks on the built extension (dist/chromium from `npm run build`; this file builds nothing): it loads,
 * its contexts talk to each other, settings persist, tfjs runs on every backend inside the extension, and nothing
 * is fetched from the network. Fixture pages are served with `context.route`, so no test touches a real site.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { IDLE_CLOSE_MS } from '../../src/background/offscreen-host.ts';
import type { Settings } from '../../src/shared/settings.ts';
import { type ExtensionHarness, isolatedWorld, launchExtension, openEngineLab, runInEngineLab } from './harness.ts';

const SITE_URL = 'https://x.com/compose/post';
const SITE_HTML = `<!doctype html><html><head><title>x.com fixture</title></head><body>
<input type="file" accept="image/*" multiple>
<script>document.title = 'page script ran';</script>
</body></html>`;

describe('extension (dist/chromium)', () => {
  let h: ExtensionHarness;
  let site: Page;

  before(async () => {
    h = await launchExtension({ browserBuild: 'chromium' });
    await h.context.route('https://x.com/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: SITE_HTML }),
    );
    site = await h.context.newPage();
    await site.goto(SITE_URL);
  });

  after(async () => {
    await h?.close();
  });

  test('the service worker starts and answers extension pages', async () => {
    assert.match(h.serviceWorker.url(), /^chrome-extension:\/\/[a-p]{32}\/background\.js$/);
    const page = await h.openExtensionPage('engine-lab.html');
    const reply = await page.evaluate(() => chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:getSettings' }));
    assert.equal(reply.ok, true);
    assert.equal(reply.result.version, 1);
    assert.deepEqual(reply.result.sites['x.com'], { enabled: true, strength: 'mid' });
    await page.close();
  });

  test('content scripts run on a supported site without breaking it, and are unprivileged', async () => {
    assert.equal(await site.title(), 'page script ran');
    const world = await isolatedWorld(site, h.extensionId);
    const ask = (name: string) =>
      world.evaluate(`chrome.runtime.sendMessage({ faceCloak: 1, name: ${JSON.stringify(name)} })`);

    // The content script's own message: the background derives the site from the sender.
    assert.deepEqual(await ask('background:getSiteSettings'), {
      ok: true,
      result: { site: 'x.com', settings: { enabled: true, strength: 'mid' } },
    });
    // Privileged messages are refused from a content script.
    const refused = (await ask('background:getSettings')) as { ok: boolean; error: { code: string } };
    assert.equal(refused.ok, false);
    assert.equal(refused.error.code, 'forbidden');
    await world.close();
  });

  test('frames without an origin of their own (srcdoc, about:blank) are hooked too: their uploads are caught', { timeout: 180_000 }, async () => {
    // A page can read files through such a frame's input; without match_origin_as_fallback no content script runs
    // there and the photo would go out uncloaked. A face-less photo is caught (the change event the frame's page
    // sees is our re-dispatched, untrusted one) and handed over unchanged after detection.
    const page = await h.context.newPage();
    await page.route('https://x.com/frames', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/html',
        body: `<!doctype html><title>frames</title>
<iframe id="srcdoc" srcdoc="<input type=file id=media>"></iframe>
<iframe id="blank" src="about:blank"></iframe>
<script>
  const blank = document.getElementById('blank');
  blank.contentDocument.body.innerHTML = '<input type=file id=media>';
</script>`,
      }),
    );
    await page.goto('https://x.com/frames');
    const png = await sharp({ create: { width: 96, height: 96, channels: 3, background: '#6a8' } }).png().toBuffer();
    for (const id of ['srcdoc', 'blank']) {
      const frame = page.frameLocator(`#${id}`);
      const input = frame.locator('#media');
      await input.waitFor({ state: 'attached' });
      await input.evaluate((element) => {
        (window as unknown as { seen: unknown[] }).seen = [];
        element.addEventListener('change', (event) =>
          (window as unknown as { seen: unknown[] }).seen.push({
            trusted: event.isTrusted,
            size: (event.target as HTMLInputElement).files?.[0]?.size,
          }),
        );
      });
      await input.setInputFiles({ name: 'plain.png', mimeType: 'image/png', buffer: png });
      const seen = await input.evaluate(async () => {
        const w = window as unknown as { seen: { trusted: boolean; size?: number }[] };
        for (let i = 0; i < 1200 && w.seen.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
        return w.seen;
      });
      assert.equal(seen.length, 1, `${id}: one change event`);
      assert.equal(seen[0].trusted, false, `${id}: the browser's own event was caught and re-dispatched`);
      assert.equal(seen[0].size, png.length, `${id}: a face-less photo is handed over unchanged`);
    }
    await page.close();
  });

  test('the popup shows the current site settings and the engine backend', { timeout: 120_000 }, async () => {
    const popup = await h.openExtensionPage(`popup.html?tabId=${await h.tabIdOf(site)}`);
    await popup.getByTestId('site').waitFor();
    assert.equal(await popup.getByTestId('site').textContent(), 'x.com');
    assert.equal(await popup.getByRole('checkbox', { name: 'Protect photos I upload here' }).isChecked(), true);
    assert.equal(await popup.getByRole('radio', { name: 'Medium' }).isChecked(), true);

    const engine = popup.getByTestId('engine');
    await popup.waitForFunction(() => !document.querySelector('[data-testid=engine]')?.textContent?.includes('starting'), undefined, {
      timeout: 100_000,
    });
    assert.match((await engine.textContent()) ?? '', /^Engine: (webgpu|webgl|wasm|cpu)$/);
    await popup.close();
  });

  test('settings changed in the popup persist across a popup reload', async () => {
    const popup = await h.openExtensionPage(`popup.html?tabId=${await h.tabIdOf(site)}`);
    const enabled = popup.getByRole('checkbox', { name: 'Protect photos I upload here' });
    await enabled.waitFor();

    await popup.getByRole('radio', { name: 'High' }).check();
    await enabled.uncheck();
    assert.equal(await popup.getByRole('radio', { name: 'High' }).isDisabled(), true, 'strength is moot when off');
    await popup.locator('section[aria-busy="false"]').waitFor(); // Both writes answered.

    await popup.reload();
    await enabled.waitFor();
    assert.equal(await enabled.isChecked(), false);
    assert.equal(await popup.getByRole('radio', { name: 'High' }).isChecked(), true);

    const stored = (await h.serviceWorker.evaluate(
      async () => (await chrome.storage.local.get('settings')).settings,
    )) as Settings;
    assert.deepEqual(stored.sites['x.com'], { enabled: false, strength: 'high' });
    assert.deepEqual(stored.sites['twitter.com'], { enabled: true, strength: 'mid' }, 'other sites untouched');
    await popup.close();
  });

  test('concurrent engine requests share one offscreen document', { timeout: 120_000 }, async () => {
    // Start from no document, so that all three requests race to create it.
    await h.serviceWorker.evaluate(() => chrome.offscreen.closeDocument().catch(() => undefined));
    assert.equal(await offscreenDocuments(h), 0);

    const page = await h.openExtensionPage('engine-lab.html');
    const replies = await page.evaluate(() =>
      Promise.all([1, 2, 3].map(() => chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:engineStatus' }))),
    );
    for (const reply of replies) assert.equal(reply.ok, true, JSON.stringify(reply));
    assert.equal(await offscreenDocuments(h), 1);
    await page.close();
  });

  test('engine-lab switches tfjs to every backend', { timeout: 300_000 }, async (t) => {
    const lab = await openEngineLab(h);
    const backends = await runInEngineLab(lab, 'backends', []);
    assert.deepEqual(backends, ['webgpu', 'webgl', 'wasm', 'cpu']);
    for (const backend of backends) {
      const start = performance.now();
      const got = await runInEngineLab(lab, 'setBackend', [backend]);
      t.diagnostic(`${backend}: got ${got} in ${Math.round(performance.now() - start)} ms`);
      assert.equal(got, backend);
    }
    await lab.close();
  });

  test('the offscreen document closes once idle', { timeout: IDLE_CLOSE_MS + 30_000 }, async () => {
    const start = Date.now();
    while ((await offscreenDocuments(h)) > 0) {
      assert.ok(Date.now() - start < IDLE_CLOSE_MS + 20_000, 'still open long after the idle timeout');
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  });

  test('no extension context made a network request, and no page threw', () => {
    assert.deepEqual(h.networkRequests(), []);
    assert.deepEqual(h.pageErrors(), []);
  });
});

function offscreenDocuments(h: ExtensionHarness): Promise<number> {
  return h.serviceWorker.evaluate(
    async () => (await chrome.runtime.getContexts({ contextTypes: ['OFFSCREEN_DOCUMENT'] })).length,
  );
}

describe('harness network recording', () => {
  test('sees requests from the service worker, extension pages and the offscreen document', { timeout: 60_000 }, async () => {
    const h = await launchExtension({ browserBuild: 'chromium' });
    try {
      const attempt = (url: string) => `fetch(${JSON.stringify(url)}).then(() => 'fetched', () => 'refused')`;
      assert.equal(await h.serviceWorker.evaluate(attempt('https://example.com/from-worker')), 'refused');
      const page = await h.openExtensionPage('engine-lab.html');
      assert.equal(await page.evaluate(attempt('https://example.com/from-page')), 'refused');
      // The offscreen document only exists once something needs the engine.
      await page.evaluate(() => chrome.runtime.sendMessage({ faceCloak: 1, name: 'background:engineStatus' }));
      assert.equal(await evaluateInOffscreenDocument(page, attempt('https://example.com/from-offscreen')), 'refused');

      const seen = h.networkRequests().map(({ url, source }) => [url, new URL(source).pathname]);
      assert.deepEqual(seen.sort(), [
        ['https://example.com/from-offscreen', '/offscreen.html'],
        ['https://example.com/from-page', '/engine-lab.html'],
        ['https://example.com/from-worker', '/background.js'],
      ]);
      assert.ok(h.blockedTraffic().some((r) => r.url === 'example.com:443'), 'the sink proxy refused them');
    } finally {
      await h.close();
    }
  });
});

/** Evaluates `expression` in the offscreen document (which Playwright does not expose) through CDP. */
async function evaluateInOffscreenDocument(page: Page, expression: string): Promise<unknown> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { targetInfos } = await cdp.send('Target.getTargets');
    const target = targetInfos.find((t) => t.url.endsWith('/offscreen.html'));
    assert.ok(target, 'an offscreen document exists');
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
    const reply = new Promise<unknown>((resolve) => {
      cdp.on('Target.receivedMessageFromTarget', ({ message }) => {
        const parsed = JSON.parse(message) as { id?: number; result?: { result: { value: unknown } } };
        if (parsed.id === 1) resolve(parsed.result?.result.value);
      });
    });
    await cdp.send('Target.sendMessageToTarget', {
      sessionId,
      message: JSON.stringify({
        id: 1,
        method: 'Runtime.evaluate',
        params: { expression, awaitPromise: true, returnByValue: true },
      }),
    });
    return await reply;
  } finally {
    await cdp.detach();
  }
}

