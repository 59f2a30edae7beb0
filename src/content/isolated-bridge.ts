/**
 * Isolated-world end of the private channel to the MAIN-world hook (handshake in bridge-protocol.ts). It hands the
 * port over once, checks every message from the page world (which shares its realm with the page, so its messages
 * are hostile input), runs each batch through `protectBatch` and answers on the same port. The files only ever
 * travel over this frame's own port and to the extension through `cloakFile`, whose replies come back to this
 * content script alone: no other page, frame or tab can read them.
 */
import {
  HELLO_EVENT,
  type IsolatedMessage,
  PORT_EVENT,
  PROTOCOL,
  type PageMessage,
  isPageMessage,
} from './bridge-protocol.ts';
import { protectBatch } from './protect-batch.ts';
import { onSiteSettings, siteSettings, siteSettingsReady } from './site-settings.ts';

export function startIsolatedBridge(): void {
  const channel = new MessageChannel();
  let handedOver = false;
  const offer = (): void => {
    if (handedOver) return;
    const event = new MessageEvent(PORT_EVENT, { data: PROTOCOL, ports: [channel.port2], cancelable: true });
    window.dispatchEvent(event);
    if (!event.defaultPrevented) return; // the MAIN world is not there yet: it says hello when it starts
    handedOver = true;
    window.removeEventListener(HELLO_EVENT, offer, true);
    serve(channel.port1);
  };
  window.addEventListener(HELLO_EVENT, offer, true);
  // Both scripts run before the page's; once the page's scripts can run, a hello could be the page's, fishing for
  // the port, so stop offering it then.
  document.addEventListener('DOMContentLoaded', () => window.removeEventListener(HELLO_EVENT, offer, true), { once: true });
  offer();
}

function serve(port: MessagePort): void {
  const post = (message: IsolatedMessage) => port.postMessage(message);
  const running = new Map<number, AbortController>();
  /** Ids already used: a replayed id is refused rather than answered twice. */
  let lastId = 0;

  // While the settings are unknown (or the extension is unreachable) the page world keeps catching uploads, so the
  // person is told rather than a photo passing uncloaked.
  const reportSettings = () => post({ type: 'settings', enabled: siteSettings()?.settings.enabled ?? true });
  onSiteSettings(reportSettings);
  reportSettings();

  port.onmessage = (event) => {
    const message: unknown = event.data;
    if (!isPageMessage(message)) {
      console.warn('[face-cloak] ignored a malformed message from the page world');
      return;
    }
    void handle(message);
  };

  async function handle(message: PageMessage): Promise<void> {
    if (message.type === 'abort') {
      running.get(message.id)?.abort();
      return;
    }
    if (message.id <= lastId) return;
    lastId = message.id;
    const controller = new AbortController();
    running.set(message.id, controller);
    try {
      const settings = await siteSettingsReady();
      if (settings && !settings.settings.enabled) {
        // Switched off for this site: the person's own choice, so the files go through as they are.
        post({ type: 'done', id: message.id, outcomes: message.files.map(() => ({ kind: 'original' })) });
        return;
      }
      const outcomes = await protectBatch(message.files, message.anchor, controller.signal);
      post(outcomes ? { type: 'done', id: message.id, outcomes } : { type: 'cancelled', id: message.id });
    } catch (error) {
      console.error('[face-cloak] upload batch failed:', error);
      post({ type: 'cancelled', id: message.id });
    } finally {
      running.delete(message.id);
    }
  }
}
