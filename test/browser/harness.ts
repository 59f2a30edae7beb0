/**
 * Loads the built extension (dist/<browser>, from `npm run build`) into Debian's Chromium through playwright-core,
 * and watches the network: the extension must never fetch anything.
 *
 * `networkRequests()` lists every request to a network URL (http, https, ws, wss, ftp; chrome-extension:// is not
 * network) made by an extension context:
 * - the service worker and extension pages in tabs (popup, engine-lab, `openExtensionPage`): Playwright's request
 *   events, attributed by `request.serviceWorker()` / `request.frame()`;
 * - the offscreen document: a `background_page` CDP target that Playwright does not attach to. The harness attaches
 *   to it through CDP (non-flat session) and records its `Network.requestWillBeSent` events (and, for `extensionLog`,
 *   its console). A request sent in the first milliseconds of such a document, before the attach completes, can
 *   escape this.
 * Requests from content scripts look like the page's own and are not attributed.
 *
 * Nothing reaches the network either way: the browser's only route out is a sink proxy that answers 502 and logs
 * what it refused (`blockedTraffic()`: Chromium's own housekeeping such as update checks and preconnects shows up
 * there too, which is why it is a diagnostic, not the assertion). Loopback bypasses the proxy (Chromium's default),
 * so serve fixture pages with `context.route`; routed requests never leave the browser.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { type BrowserContext, type CDPSession, type Page, type Request, type Worker, chromium } from 'playwright-core';
import type { EngineLab } from '../../src/lab/engine-lab.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface LaunchOptions {
  /** Which build under dist/ to load. Only Chromium: Playwright cannot load extensions into Firefox. */
  browserBuild?: 'chromium';
  /** Default true. Headed mode needs an X server (Xvfb). */
  headless?: boolean;
}

export interface NetworkRequest {
  url: string;
  method: string;
  /** The URL of the service worker or extension document that made it. */
  source: string;
}

export interface ExtensionHarness {
  context: BrowserContext;
  extensionId: string;
  /** chrome-extension://<id>/ */
  baseUrl: string;
  /**
   * The extension's service worker, the latest one if Chromium restarted it. A stopped worker cannot be woken from
   * here: an extension page's message wakes it.
   */
  readonly serviceWorker: Worker;
  /** Opens an extension page (e.g. 'popup.html?tabId=3') in a new tab, once it has loaded. */
  openExtensionPage(path: string): Promise<Page>;
  /** The Chromium tab id of a page, for extension APIs (`popup.html?tabId=`). */
  tabIdOf(page: Page): Promise<number>;
  /** Every network request made so far by an extension context. Should stay empty. */
  networkRequests(): NetworkRequest[];
  /** Everything the browser tried to send to the network (refused by the sink proxy), for diagnostics. */
  blockedTraffic(): { method: string; url: string }[];
  /** Uncaught errors thrown in any page of the browser so far, extension pages included. */
  pageErrors(): string[];
  /**
   * Console messages and uncaught errors of the extension's contexts so far (service worker, pages, the offscreen
   * document), oldest first, each as `<seconds since launch> <context> <type>: <text>`: for a test's diagnostics
   * when the extension went silent.
   */
  extensionLog(): string[];
  close(): Promise<void>;
}

const NETWORK_URL = /^(https?|wss?|ftp):/i;

export async function launchExtension(options: LaunchOptions = {}): Promise<ExtensionHarness> {
  const { browserBuild = 'chromium', headless = true } = options;
  // FACE_CLOAK_DIST: the folder build.mjs wrote to, when not dist/ (see build.mjs).
  const extensionDir = join(repoRoot, process.env.FACE_CLOAK_DIST || 'dist', browserBuild);
  if (!existsSync(join(extensionDir, 'manifest.json'))) {
    throw new Error(`${extensionDir} has no built extension: run \`npm run build\` before the browser tests`);
  }

  const requests: NetworkRequest[] = [];
  const blocked: { method: string; url: string }[] = [];
  const errors: string[] = [];
  const log: string[] = [];
  const launched = Date.now();
  const logLine = (source: string, type: string, text: string) =>
    log.push(`${((Date.now() - launched) / 1000).toFixed(1)} ${source.replace(/^chrome-extension:\/\/[^/]+\//, '')} ${type}: ${text}`);
  const proxy = await startSinkProxy((method, url) => blocked.push({ method, url }));
  const userDataDir = mkdtempSync(join(tmpdir(), 'face-cloak-profile-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: '/usr/bin/chromium',
      headless,
      ignoreDefaultArgs: ['--disable-extensions'],
      args: [
        '--no-sandbox',
        '--disable-gpu-sandbox',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-quic',
        '--enable-unsafe-webgpu',
        `--proxy-server=http://127.0.0.1:${proxy.port}`,
        `--disable-extensions-except=${extensionDir}`,
        `--load-extension=${extensionDir}`,
      ],
    });
    const ctx = context;
    ctx.on('weberror', (error) => errors.push(`${error.page()?.url() ?? '?'}: ${error.error().stack ?? error.error()}`));

    const isExtensionWorker = (worker: Worker) => worker.url().startsWith('chrome-extension://');
    let serviceWorker =
      ctx.serviceWorkers().find(isExtensionWorker) ??
      (await ctx.waitForEvent('serviceworker', { predicate: isExtensionWorker, timeout: 30_000 }));
    ctx.on('serviceworker', (worker) => {
      if (isExtensionWorker(worker)) serviceWorker = worker;
    });
    const extensionId = new URL(serviceWorker.url()).host;
    const baseUrl = `chrome-extension://${extensionId}/`;

    const record = (request: NetworkRequest) => {
      if (request.source.startsWith(baseUrl) && NETWORK_URL.test(request.url)) requests.push(request);
    };
    ctx.on('console', (message) => {
      const source = message.worker()?.url() ?? message.page()?.url() ?? '?';
      if (source.startsWith(baseUrl)) logLine(source, message.type(), message.text());
    });
    ctx.on('request', (request) => {
      const source = requestSource(request);
      if (source) record({ url: request.url(), method: request.method(), source });
    });
    await watchHiddenExtensionDocuments(ctx, baseUrl, record, logLine);

    return {
      context: ctx,
      extensionId,
      baseUrl,
      get serviceWorker() {
        return serviceWorker;
      },
      async openExtensionPage(path) {
        const page = await ctx.newPage();
        await page.goto(baseUrl + path.replace(/^\//, ''));
        return page;
      },
      async tabIdOf(page) {
        const url = page.url();
        const ids = await serviceWorker.evaluate(
          async (pageUrl) => (await chrome.tabs.query({})).filter((tab) => tab.url === pageUrl).map((tab) => tab.id),
          url,
        );
        if (ids.length !== 1 || typeof ids[0] !== 'number') throw new Error(`${ids.length} tabs show ${url}`);
        return ids[0];
      },
      networkRequests: () => [...requests],
      blockedTraffic: () => [...blocked],
      pageErrors: () => [...errors],
      extensionLog: () => [...log],
      async close() {
        await ctx.close().catch(() => undefined);
        await proxy.close();
        rmSync(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close().catch(() => undefined);
    await proxy.close();
    rmSync(userDataDir, { recursive: true, force: true });
    throw error;
  }
}

/** The URL of the service worker or frame that made a request, when Playwright knows it. */
function requestSource(request: Request): string | undefined {
  const worker = request.serviceWorker();
  if (worker) return worker.url();
  try {
    return request.frame().url();
  } catch {
    return undefined; // A navigation before its frame exists.
  }
}

/**
 * Records the network requests, console messages and uncaught errors of extension documents Playwright does not
 * attach to (the offscreen document is a `background_page` target). Uses a CDP session on a blank tab the harness
 * opens for the purpose; a test must not close that tab.
 */
async function watchHiddenExtensionDocuments(
  context: BrowserContext,
  baseUrl: string,
  record: (request: NetworkRequest) => void,
  logLine: (source: string, type: string, text: string) => void,
): Promise<void> {
  const cdp = await context.newCDPSession(await context.newPage());
  const attached = new Set<string>();
  /** Target URL by (non-flat) session id. */
  const sessions = new Map<string, string>();
  const attach = async (target: { targetId: string; type: string; url: string }) => {
    if (target.type !== 'background_page' || !target.url.startsWith(baseUrl) || attached.has(target.targetId)) return;
    attached.add(target.targetId);
    // Non-flat: the session's traffic travels inside Target.* messages on this CDP session, which Playwright's
    // CDPSession can carry (it cannot address a flat child session).
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
    sessions.set(sessionId, target.url);
    for (const [id, method] of ['Network.enable', 'Runtime.enable'].entries()) {
      await cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: id + 1, method }) });
    }
  };
  cdp.on('Target.targetCreated', ({ targetInfo }) => void attach(targetInfo).catch(() => undefined));
  cdp.on('Target.targetInfoChanged', ({ targetInfo }) => void attach(targetInfo).catch(() => undefined));
  cdp.on('Target.receivedMessageFromTarget', ({ sessionId, message }) => {
    const event = JSON.parse(message) as { method?: string; params?: Record<string, unknown> };
    const source = sessions.get(sessionId) ?? '?';
    if (event.method === 'Network.requestWillBeSent' && event.params) {
      const { documentURL, request } = event.params as { documentURL: string; request: { url: string; method: string } };
      record({ url: request.url, method: request.method, source: documentURL });
    } else if (event.method === 'Runtime.consoleAPICalled' && event.params) {
      const { type, args } = event.params as { type: string; args: { value?: unknown; description?: string }[] };
      logLine(source, type, args.map((arg) => arg.description ?? String(arg.value)).join(' '));
    } else if (event.method === 'Runtime.exceptionThrown' && event.params) {
      const { exceptionDetails } = event.params as { exceptionDetails: { text: string; exception?: { description?: string } } };
      logLine(source, 'uncaught', exceptionDetails.exception?.description ?? exceptionDetails.text);
    }
  });
  await cdp.send('Target.setDiscoverTargets', { discover: true });
}

export interface SinkProxy {
  port: number;
  close(): Promise<void>;
}

/**
 * An HTTP proxy that lets nothing through: it records each request (CONNECT for https and wss) and answers 502.
 *
 * A CONNECT socket is handed to the `connect` listener and no longer belongs to the HTTP server: nothing else listens
 * for its errors, and `closeAllConnections` does not reach it. Chromium often resets such a socket (preconnects it gives
 * up on, the browser closing), which without a listener is an uncaught ECONNRESET that node:test pins on whichever hook
 * launched the browser. So each one gets an error listener and is destroyed on close.
 */
export async function startSinkProxy(record: (method: string, url: string) => void): Promise<SinkProxy> {
  const tunnels = new Set<Duplex>();
  const server: Server = createServer((req, res) => {
    record(req.method ?? '?', req.url ?? '?');
    res.writeHead(502).end();
  });
  server.on('connect', (req, socket) => {
    record('CONNECT', req.url ?? '?');
    tunnels.add(socket);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => tunnels.delete(socket));
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of tunnels) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Opens engine-lab.html and waits until `window.engineLab` is ready. */
export async function openEngineLab(harness: ExtensionHarness): Promise<Page> {
  const page = await harness.openExtensionPage('engine-lab.html');
  await page.waitForFunction(() => window.engineLab !== undefined);
  return page;
}

/**
 * Calls `window.engineLab[fnName](...args)` in the engine-lab page and returns its result. Arguments and results
 * travel as JSON-like values (no typed arrays: pass plain arrays).
 */
export async function runInEngineLab<K extends keyof EngineLab>(
  page: Page,
  fnName: K,
  args: Parameters<EngineLab[K]>,
): Promise<Awaited<ReturnType<EngineLab[K]>>> {
  return page.evaluate(
    ([name, fnArgs]) => {
      const lab = window.engineLab;
      if (!lab) throw new Error('window.engineLab is not there: is this engine-lab.html?');
      return (lab[name] as (...a: unknown[]) => unknown)(...fnArgs);
    },
    [fnName, args] as [K, unknown[]],
  ) as Promise<Awaited<ReturnType<EngineLab[K]>>>;
}

export interface IsolatedWorld {
  evaluate(expression: string): Promise<unknown>;
  close(): Promise<void>;
}

/** The content script's isolated world in `page`'s main frame, to evaluate code as the content script (through CDP). */
export async function isolatedWorld(page: Page, extensionId: string): Promise<IsolatedWorld> {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  const worlds: { id: number; origin: string; auxData?: { type?: string } }[] = [];
  cdp.on('Runtime.executionContextCreated', ({ context }) => worlds.push(context));
  await cdp.send('Runtime.enable'); // Reports the existing contexts.
  const world = worlds.find((w) => w.auxData?.type === 'isolated' && w.origin === `chrome-extension://${extensionId}`);
  assert.ok(world, 'the isolated content script world exists');
  return {
    async evaluate(expression) {
      const { result, exceptionDetails } = await cdp.send('Runtime.evaluate', {
        expression,
        contextId: world.id,
        awaitPromise: true,
        returnByValue: true,
      });
      if (exceptionDetails) throw new Error(exceptionDetails.exception?.description ?? exceptionDetails.text);
      return result.value;
    },
    close: () => cdp.detach(),
  };
}
