/**
 * The toolbar popup (issue 5): the current site's protection (on/off, strength and what each strength costs, one
 * click to turn a site on, asking for its host permission), the engine's backend and loaded models, the recent
 * cloaks with their estimated protection (updating live as estimates arrive), and a plain explainer of what the
 * estimate means. Settings and recent cloaks are read and written through the background, which owns them.
 *
 * `popup.html?tabId=N` shows the settings of tab N: the way to open the popup as a page (keyboard users, tests), as
 * uBlock Origin does. The tab's URL is visible for the builtin sites (host permissions) and for any site after the
 * toolbar button was clicked (activeTab); otherwise the popup says it cannot see the site.
 */
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { type EngineStatus, sendMessage } from '../shared/messages.ts';
import type { PersonalMaskInfo } from '../shared/personal-mask.ts';
import { RECENT_CLOAKS_STORAGE_KEY, type RecentCloak } from '../shared/recent-cloaks.ts';
import {
  BUILTIN_SITES,
  STRENGTHS,
  type Settings,
  type SiteSettings,
  type Strength,
  siteKeyForUrl,
  siteSettingsFor,
} from '../shared/settings.ts';
import { onSettingsStored } from '../shared/settings-watch.ts';
import { Explainer } from '../ui/explainer.tsx';
import { ProtectionMatrix, RECOGNIZER_NAMES } from '../ui/protection-matrix.tsx';
import './popup.css';

const STRENGTH_LABELS: Record<Strength, string> = { low: 'Low', mid: 'Medium', high: 'High' };

/**
 * What each strength costs and buys, from README "How strong is the cloak" (the held-out recognizers, photo as
 * posted: face-api ResNet; the ArcFace-style MobileFace and faceplugin MobileFaceNet, the low and high ends; measured
 * at a cloak seed and on photos the settings were not tuned on) and
 * bench/speed (2-core machine, WASM: 0.56-0.65 s a step per face times the strength's steps, 12 / 24 / 24, plus
 * 0.4-0.8 s of setup; mid measured 15.0 s a face at 0.5 MP and 17.3 s at 12 MP on 2026-12-06, with
 * MobileFaceNet in the ensemble).
 */
const STRENGTH_COSTS: Record<Strength, string> = {
  low: 'faint, weakest: about 1 in 3 faces escaped an unseen FaceNet-style recognizer · ~8 s a face',
  mid: 'visible up close; about 7 in 10 escaped it, under 1 in 10 to 3 in 5 the unseen ArcFace-style ones · ~16 s a face',
  high: 'visible grain, strongest: nearly all escaped it, about 1 in 2 to 9 in 10 the ArcFace-style ones · ~16 s a face',
};

const BACKEND_NAMES: Record<string, string> = {
  webgpu: 'WebGPU, on the graphics chip',
  webgl: 'WebGL, on the graphics chip',
  wasm: 'WASM, on the processor',
  cpu: 'CPU (plain JavaScript, slowest)',
};

const MODEL_NAMES: Record<string, string> = {
  'human-blazeface-front': 'quick face check (close)',
  'human-blazeface-back': 'quick face check (distant)',
  'faceapi-ssd': 'face detector',
  'faceapi-tiny-detector': 'face detector (second look)',
  'faceapi-landmarks68': 'landmarks',
  ...RECOGNIZER_NAMES,
};

const SOURCE_LABELS: Record<RecentCloak['source'], string> = {
  upload: 'upload',
  'protect-image': '"Protect image"',
  'protect-page': 'protect page',
};

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

/** The host permission pattern a site needs: the site and its subdomains, https only (as the builtin sites). */
function originFor(site: string): string {
  return `https://*.${site}/*`;
}

async function hasAccess(site: string): Promise<boolean> {
  return chrome.permissions.contains({ origins: [originFor(site)] });
}

/** Calls `listener` when the recent cloaks change in storage (a cloak recorded, an estimate arrived, cleared). */
function onRecentCloaksStored(listener: () => void): () => void {
  const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string): void => {
    if (area === 'local' && RECENT_CLOAKS_STORAGE_KEY in changes) listener();
  };
  chrome.storage.onChanged.addListener(onChanged);
  return () => chrome.storage.onChanged.removeListener(onChanged);
}

function useSettings(): [Loadable<Settings>, (settings: Settings) => void] {
  const [settings, setSettings] = useState<Loadable<Settings>>({ state: 'loading' });
  useEffect(() => {
    const load = () =>
      sendMessage('background:getSettings').then(
        (value) => setSettings({ state: 'ready', value }),
        (error: unknown) => setSettings({ state: 'error', message: errorMessage(error) }),
      );
    void load();
    return onSettingsStored(() => void load()); // Another popup or the options page changed them.
  }, []);
  return [settings, useCallback((value: Settings) => setSettings({ state: 'ready', value }), [])];
}

function Popup() {
  const [site, setSite] = useState<Loadable<string | null>>({ state: 'loading' });
  const [settings, setSettings] = useSettings();

  useEffect(() => {
    currentSite().then(
      (value) => setSite({ state: 'ready', value }),
      (error: unknown) => setSite({ state: 'error', message: errorMessage(error) }),
    );
  }, []);

  return (
    <>
      <h1>Face Cloak</h1>
      {site.state === 'loading' && <p>Loading…</p>}
      {site.state === 'error' && <p class="error">Could not read the current tab: {site.message}</p>}
      {site.state === 'ready' && site.value === null && (
        <p class="note">
          Face Cloak protects the photos you upload to websites. Open a website and click the Face Cloak button to see
          its settings.
        </p>
      )}
      {site.state === 'ready' && site.value !== null && settings.state === 'error' && (
        <p class="error">Could not read settings: {settings.message}</p>
      )}
      {site.state === 'ready' && site.value !== null && settings.state === 'ready' && (
        <SiteControls site={site.value} settings={settings.value} onSaved={setSettings} />
      )}
      <EngineLine />
      <RecentCloaks days={settings.state === 'ready' ? settings.value.recentCloaksDays : null} />
      {/* The matrices' "What this means" links open this (explainerHref="#explainer"). */}
      <details id="explainer" class="explainer">
        <summary>What the estimate means, and what the cloak cannot promise</summary>
        <Explainer />
      </details>
    </>
  );
}

function SiteControls({ site, settings, onSaved }: { site: string; settings: Settings; onSaved: (s: Settings) => void }) {
  const [current, setCurrent] = useState<SiteSettings>(() => siteSettingsFor(settings, site));
  const [access, setAccess] = useState<boolean | null>(null);
  const [pendingSaves, setPendingSaves] = useState(0);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [justEnabled, setJustEnabled] = useState(false);
  const builtin = (BUILTIN_SITES as readonly string[]).includes(site);

  // Settings changed elsewhere (options page, another popup): show them, unless a save of ours is in flight.
  useEffect(() => {
    if (pendingSaves === 0) setCurrent(siteSettingsFor(settings, site));
  }, [settings, site]);

  useEffect(() => {
    hasAccess(site).then(setAccess, () => setAccess(false));
  }, [site]);

  // Optimistic: the control shows the new value at once; the background serialises the writes, so the last reply
  // is the last change. A failed write puts the old value back.
  const update = async (patch: Partial<SiteSettings>) => {
    const before = current;
    setCurrent({ ...current, ...patch });
    setSaveError(null);
    setPendingSaves((n) => n + 1);
    try {
      const saved = await sendMessage('background:setSiteSettings', { site, patch });
      setCurrent(saved);
      onSaved({ ...settings, sites: { ...settings.sites, [site]: saved } });
    } catch (error) {
      setCurrent(before);
      setSaveError(errorMessage(error));
    } finally {
      setPendingSaves((n) => n - 1);
    }
  };

  /**
   * Turns protection on, first asking for the site's host permission when it is missing. The request must be made
   * in the click's user gesture, so it is the first thing the handler does (no await before it).
   */
  const enable = () => {
    const granted = access ? Promise.resolve(true) : chrome.permissions.request({ origins: [originFor(site)] });
    setSaveError(null);
    granted.then(
      async (ok) => {
        if (!ok) {
          setSaveError(`The browser did not give Face Cloak access to ${site}, so it stays off here.`);
          return;
        }
        setAccess(true);
        if (!current.enabled) await update({ enabled: true });
        setJustEnabled(true);
      },
      (error: unknown) => setSaveError(errorMessage(error)),
    );
  };

  const protecting = current.enabled && access === true;

  return (
    <section class="site-controls" aria-label="Site settings" aria-busy={pendingSaves > 0}>
      <p class="site" data-testid="site">
        {site}
      </p>
      {access !== null && (
        <div
          class={`site-state ${protecting ? 'site-state--on' : 'site-state--off'}`}
          data-testid="site-state"
          role="status"
        >
          {protecting ? (
            <p>
              <span aria-hidden="true">✓ </span>
              Photos you upload here are cloaked first.
              {justEnabled && !builtin && ' Reload the page so protection starts there.'}
            </p>
          ) : (
            <>
              <p>
                <span aria-hidden="true">⚠ </span>
                <strong>Not protected:</strong> photos you upload to {site} go out as they are
                {access ? ' (off for this site).' : ', because Face Cloak has no access to it yet.'}
              </p>
              <button type="button" class="primary" onClick={enable}>
                Protect photos on {site}
              </button>
              {!access && <p class="hint">Your browser will ask to let Face Cloak read and change {site}.</p>}
            </>
          )}
        </div>
      )}
      <label class="switch">
        <input
          type="checkbox"
          checked={current.enabled}
          onChange={(event) => {
            // Turning on where access is missing goes through the permission request; turning off never needs one.
            if (event.currentTarget.checked && access === false) {
              event.currentTarget.checked = false;
              enable();
            } else {
              void update({ enabled: event.currentTarget.checked });
            }
          }}
        />{' '}
        Protect photos I upload here
      </label>
      <fieldset disabled={!current.enabled}>
        <legend>Strength</legend>
        {STRENGTHS.map((value) => (
          <div class="strength" key={value}>
            <label>
              <input
                type="radio"
                name="strength"
                value={value}
                checked={current.strength === value}
                aria-describedby={`cost-${value}`}
                onChange={() => void update({ strength: value })}
              />{' '}
              {STRENGTH_LABELS[value]}
            </label>
            <span class="cost" id={`cost-${value}`} data-testid={`cost-${value}`}>
              {STRENGTH_COSTS[value]}
            </span>
          </div>
        ))}
        <p class="hint">
          Escapes: measured on 22 photos against recognizers the cloak never saw. Times: measured at medium on a
          2-core laptop; low and high scaled by their number of steps.
        </p>
        <PersonalMaskLine />
      </fieldset>
      {saveError && (
        <p class="error" role="alert">
          Could not save: {saveError}
        </p>
      )}
    </section>
  );
}

/** Whether Medium starts from the person's personal mask, with the way to the options page that makes one. */
function PersonalMaskLine() {
  const [info, setInfo] = useState<PersonalMaskInfo | null | undefined>(undefined);
  useEffect(() => {
    sendMessage('background:getPersonalMask').then(setInfo, () => setInfo(undefined));
  }, []);
  if (info === undefined) return null;
  const link = (text: string) => (
    <a href={chrome.runtime.getURL('options.html#personal-mask')} target="_blank" rel="noopener">
      {text}
    </a>
  );
  return (
    <p class="hint" data-testid="mask-line">
      {info === null ? (
        <>Medium takes about 0.7x the time on faces it fits, from a personal mask learned once from 3-5 photos of you · {link('learn one')}</>
      ) : info.problem ? (
        <>Your personal mask cannot be used: learn it again · {link('personal mask')}</>
      ) : (
        <>Medium starts from your personal mask where it fits a face: about 0.7x the time there · {link('manage')}</>
      )}
    </p>
  );
}

function EngineLine() {
  const [engine, setEngine] = useState<Loadable<EngineStatus>>({ state: 'loading' });
  useEffect(() => {
    const load = () =>
      sendMessage('background:engineStatus').then(
        (value) => setEngine({ state: 'ready', value }),
        (error: unknown) => setEngine({ state: 'error', message: errorMessage(error) }),
      );
    void load();
    // A cloak recorded or estimated means the engine loaded models (the estimate's judges load late): ask again.
    // Not when the list was cleared: that would start the engine for nothing.
    const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string): void => {
      const change = changes[RECENT_CLOAKS_STORAGE_KEY];
      if (area === 'local' && Array.isArray(change?.newValue) && change.newValue.length > 0) void load();
    };
    chrome.storage.onChanged.addListener(onChanged);
    return () => chrome.storage.onChanged.removeListener(onChanged);
  }, []);

  if (engine.state === 'error') {
    return (
      <p class="engine">
        <span data-testid="engine">
          Engine: <span class="error">unavailable ({engine.message})</span>
        </span>
      </p>
    );
  }
  const status = engine.state === 'ready' ? engine.value : null;
  const models = status?.models ?? [];
  return (
    <div class="engine">
      <p>
        <span data-testid="engine">Engine: {status ? status.backend : 'starting…'}</span>
        {status && BACKEND_NAMES[status.backend] && <> ({BACKEND_NAMES[status.backend]})</>}
      </p>
      {status && (
        <p data-testid="models">
          Models loaded:{' '}
          {models.length > 0
            ? models.map((id) => MODEL_NAMES[id] ?? id).join(', ')
            : 'none yet (they load with the first photo)'}
        </p>
      )}
    </div>
  );
}

function RecentCloaks({ days }: { days: number | null }) {
  const [records, setRecords] = useState<Loadable<RecentCloak[]>>({ state: 'loading' });
  const [clearing, setClearing] = useState(false);

  useEffect(() => {
    const load = () =>
      sendMessage('background:getRecentCloaks').then(
        (value) => setRecords({ state: 'ready', value }),
        (error: unknown) => setRecords({ state: 'error', message: errorMessage(error) }),
      );
    void load();
    return onRecentCloaksStored(() => void load());
  }, []);

  const clear = async () => {
    setClearing(true);
    try {
      await sendMessage('background:clearRecentCloaks');
      setRecords({ state: 'ready', value: [] });
    } catch (error) {
      setRecords({ state: 'error', message: errorMessage(error) });
    } finally {
      setClearing(false);
    }
  };

  const list = records.state === 'ready' ? records.value : [];
  return (
    <section class="recent" aria-labelledby="recent-title">
      <div class="recent-head">
        <h2 id="recent-title">Recent cloaks</h2>
        <button type="button" onClick={() => void clear()} disabled={list.length === 0 || clearing}>
          Clear
        </button>
      </div>
      <p class="hint">
        {days === null ? 'Kept on this device only' : days === 0 ? 'Not kept' : `Kept on this device for ${days} ${days === 1 ? 'day' : 'days'}`}
        {' · '}
        <a href={chrome.runtime.getURL('options.html')} target="_blank" rel="noopener">
          change how long
        </a>
      </p>
      {records.state === 'loading' && <p>Loading…</p>}
      {records.state === 'error' && <p class="error">Could not read recent cloaks: {records.message}</p>}
      {records.state === 'ready' && list.length === 0 && (
        <p class="note" data-testid="no-recent">
          No photos cloaked lately. Each photo you protect shows up here with its estimated protection.
        </p>
      )}
      {list.length > 0 && (
        <ol class="recent-list" aria-label="Recently cloaked photos, newest first">
          {list.map((record) => (
            <RecentCloakItem key={record.id} record={record} />
          ))}
        </ol>
      )}
    </section>
  );
}

function RecentCloakItem({ record }: { record: RecentCloak }) {
  const where = record.site ?? record.fileName ?? 'a local photo';
  const when = new Date(record.at);
  const faces = `${record.faces} ${record.faces === 1 ? 'face' : 'faces'}`;
  return (
    <li class="recent-item" data-record-id={record.id}>
      <article aria-label={`Photo cloaked ${when.toLocaleString()} (${where})`}>
        <div class="thumbs">
          <figure>
            <img src={record.before} alt="Before" />
            <figcaption>before</figcaption>
          </figure>
          <figure>
            <img src={record.after} alt="After, cloaked" />
            <figcaption>after</figcaption>
          </figure>
        </div>
        <div class="meta">
          <p class="where">
            {where} <span class="source">· {SOURCE_LABELS[record.source]}</span>
          </p>
          <p data-testid="record-facts">
            {faces}
            {record.skippedSmallFaces > 0 && ` (+${record.skippedSmallFaces} too small)`} · {formatSeconds(record.totalMs)} ·{' '}
            {STRENGTH_LABELS[record.strength].toLowerCase()}
          </p>
          <p class="when">
            <time dateTime={when.toISOString()}>{formatWhen(record.at)}</time>
          </p>
        </div>
        <ProtectionMatrix estimate={record.estimate} collapsed explainerHref="#explainer" />
      </article>
    </li>
  );
}

function formatSeconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

function formatWhen(at: number): string {
  const minutes = Math.round((Date.now() - at) / 60_000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  return new Date(at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

render(<Popup />, document.getElementById('app')!);
