/**
 * The toolbar popup: the current site's protection (on/off, strength) and the engine's backend. Settings are read
 * and written through the background, which owns them. `popup.html?tabId=N` shows the settings of tab N: the way to
 * open the popup as a page (keyboard users, tests), as uBlock Origin does.
 */
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { type EngineStatus, sendMessage } from '../shared/messages.ts';
import { STRENGTHS, type SiteSettings, type Strength, siteKeyForUrl, siteSettingsFor } from '../shared/settings.ts';
import { onSettingsStored } from '../shared/settings-watch.ts';
import './popup.css';

const STRENGTH_LABELS: Record<Strength, string> = { low: 'Low', mid: 'Medium', high: 'High' };

type Loadable<T> = { state: 'loading' } | { state: 'ready'; value: T } | { state: 'error'; message: string };

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The site of the tab the popup is about: `?tabId=N`, else the active tab of the window the popup belongs to. */
async function currentSite(): Promise<string | null> {
  const tabId = Number(new URLSearchParams(location.search).get('tabId'));
  const tab = Number.isInteger(tabId) && tabId > 0
    ? await chrome.tabs.get(tabId)
    : (await chrome.tabs.query({ active: true, currentWindow: true }))[0];
  // tab.url is only visible for sites we hold a host permission for (or after activeTab was granted by a click).
  return siteKeyForUrl(tab?.url);
}

async function hasAccess(site: string): Promise<boolean> {
  return chrome.permissions.contains({ origins: [`https://*.${site}/*`] });
}

function Popup() {
  const [site, setSite] = useState<Loadable<string | null>>({ state: 'loading' });
  const [engine, setEngine] = useState<Loadable<EngineStatus>>({ state: 'loading' });

  useEffect(() => {
    currentSite().then(
      (value) => setSite({ state: 'ready', value }),
      (error: unknown) => setSite({ state: 'error', message: errorMessage(error) }),
    );
    sendMessage('background:engineStatus').then(
      (value) => setEngine({ state: 'ready', value }),
      (error: unknown) => setEngine({ state: 'error', message: errorMessage(error) }),
    );
  }, []);

  return (
    <>
      <h1>Face Cloak</h1>
      {site.state === 'loading' && <p>Loading…</p>}
      {site.state === 'error' && <p class="error">Could not read the current tab: {site.message}</p>}
      {site.state === 'ready' && site.value === null && (
        <p class="note">Face Cloak protects the photos you upload to websites. Open a website to see its settings.</p>
      )}
      {site.state === 'ready' && site.value !== null && <SiteControls site={site.value} />}
      <p class="engine" data-testid="engine">
        Engine:{' '}
        {engine.state === 'loading' ? 'starting…' : engine.state === 'ready' ? engine.value.backend : (
          <span class="error">unavailable ({engine.message})</span>
        )}
      </p>
    </>
  );
}

function SiteControls({ site }: { site: string }) {
  const [settings, setSettings] = useState<Loadable<SiteSettings>>({ state: 'loading' });
  const [access, setAccess] = useState(true);
  const [pendingSaves, setPendingSaves] = useState(0);
  const [saveError, setSaveError] = useState<string | null>(null);

  const load = useCallback(() => {
    sendMessage('background:getSettings').then(
      (all) => setSettings({ state: 'ready', value: siteSettingsFor(all, site) }),
      (error: unknown) => setSettings({ state: 'error', message: errorMessage(error) }),
    );
  }, [site]);

  useEffect(() => {
    load();
    hasAccess(site).then(setAccess, () => setAccess(false));
    return onSettingsStored(load); // Another popup or the options page changed them.
  }, [site, load]);

  if (settings.state === 'loading') return <p>Loading…</p>;
  if (settings.state === 'error') return <p class="error">Could not read settings: {settings.message}</p>;
  const current = settings.value;

  // Optimistic: the control shows the new value at once; the background serialises the writes, so the last reply
  // is the last change. A failed write puts the old value back.
  const update = async (patch: Partial<SiteSettings>) => {
    setSettings({ state: 'ready', value: { ...current, ...patch } });
    setSaveError(null);
    setPendingSaves((n) => n + 1);
    try {
      setSettings({ state: 'ready', value: await sendMessage('background:setSiteSettings', { site, patch }) });
    } catch (error) {
      setSettings({ state: 'ready', value: current });
      setSaveError(errorMessage(error));
    } finally {
      setPendingSaves((n) => n - 1);
    }
  };

  return (
    <section aria-label="Site settings" aria-busy={pendingSaves > 0}>
      <p class="site" data-testid="site">
        {site}
      </p>
      <label>
        <input
          type="checkbox"
          checked={current.enabled}
          onChange={(event) => void update({ enabled: event.currentTarget.checked })}
        />{' '}
        Protect photos I upload here
      </label>
      <fieldset disabled={!current.enabled}>
        <legend>Strength</legend>
        {STRENGTHS.map((value) => (
          <label key={value}>
            <input
              type="radio"
              name="strength"
              value={value}
              checked={current.strength === value}
              onChange={() => void update({ strength: value })}
            />{' '}
            {STRENGTH_LABELS[value]}
          </label>
        ))}
      </fieldset>
      {saveError && <p class="error">Could not save: {saveError}</p>}
      {!access && <p class="note">Face Cloak does not have access to this site yet, so it cannot protect uploads here.</p>}
    </section>
  );
}

render(<Popup />, document.getElementById('app')!);
