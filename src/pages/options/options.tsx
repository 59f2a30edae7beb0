/**
 * The options page (issue 5): every site and its settings in one list (on/off, strength, whether Face Cloak may see
 * the site's pages), adding and removing sites, the defaults for other sites, the time limit per photo, what happens
 * when cloaking fails, how long recent cloaks are kept, the personal mask (personal-mask-section.tsx), and export /
 * import / reset.
 *
 * The background owns the settings (src/background/settings-store.ts): every change is a message, and the page
 * re-reads them whenever storage changes, so the popup and this page never disagree. Host permissions are asked for
 * from the click that needs them (browsers require a user gesture), before any other await.
 */
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { sendMessage } from '../../shared/messages.ts';
import { RECENT_CLOAKS_STORAGE_KEY } from '../../shared/recent-cloaks.ts';
import {
  BUILTIN_SITES,
  CLOAK_TIMEOUT_SECONDS,
  FAILURE_CHOICES,
  type FailureChoice,
  type GeneralSettings,
  RECENT_CLOAKS_DAYS,
  type RecentCloaksDays,
  STRENGTHS,
  type Settings,
  type SiteSettings,
  type Strength,
  createDefaultSettings,
} from '../../shared/settings.ts';
import { onSettingsStored } from '../../shared/settings-watch.ts';
import { exportProblem, importWarnings } from './import-report.ts';
import { type Message, Notice, errorMessage } from './notice.tsx';
import { PersonalMaskSection } from './personal-mask-section.tsx';
import { siteFromInput } from './site-input.ts';
import './options.css';

const STRENGTH_LABELS: Record<Strength, string> = { low: 'Low', mid: 'Medium', high: 'High' };
const FAILURE_TEXT: Record<FailureChoice, { label: string; note: string }> = {
  ask: { label: 'Ask me', note: 'Retry, upload the original, or cancel: you choose each time.' },
  original: { label: 'Upload the original', note: 'The photo goes to the site without a cloak.' },
  cancel: { label: 'Cancel the upload', note: 'The site gets nothing; try again later.' },
};
const DAYS_LABELS: Record<RecentCloaksDays, string> = { 0: 'Do not keep them', 1: '1 day', 7: '7 days', 30: '30 days' };

const isBuiltin = (site: string) => (BUILTIN_SITES as readonly string[]).includes(site);
const originFor = (site: string) => `https://*.${site}/*`;

function useSettings(): [Settings | null, string | null, (s: Settings) => void] {
  const [settings, setSettings] = useState<Settings | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const load = () =>
      sendMessage('background:getSettings').then(
        (value) => {
          setSettings(value);
          setError(null);
        },
        (e: unknown) => setError(errorMessage(e)),
      );
    void load();
    return onSettingsStored(() => void load());
  }, []);
  return [settings, error, setSettings];
}

/** Which of `sites` Face Cloak may see, kept current when permissions change. */
function useAccess(sites: string[]): Record<string, boolean> {
  const [access, setAccess] = useState<Record<string, boolean>>({});
  const key = sites.join(',');
  useEffect(() => {
    const load = async () => {
      const entries = await Promise.all(
        sites.map(async (site) => [site, await chrome.permissions.contains({ origins: [originFor(site)] }).catch(() => false)] as const),
      );
      setAccess(Object.fromEntries(entries));
    };
    void load();
    const onChange = () => void load();
    chrome.permissions.onAdded.addListener(onChange);
    chrome.permissions.onRemoved.addListener(onChange);
    return () => {
      chrome.permissions.onAdded.removeListener(onChange);
      chrome.permissions.onRemoved.removeListener(onChange);
    };
  }, [key]); // `sites` is compared by its contents (key).
  return access;
}

function Options() {
  const [settings, loadError, setSettings] = useSettings();
  const [busy, setBusy] = useState(0);

  /** Runs a change, shows its result; returns whether it worked. */
  const save = async <T,>(change: () => Promise<T>, onError: (text: string) => void): Promise<T | undefined> => {
    setBusy((n) => n + 1);
    try {
      return await change();
    } catch (error) {
      onError(errorMessage(error));
      return undefined;
    } finally {
      setBusy((n) => n - 1);
    }
  };

  if (loadError) return <p class="notice notice--error" role="alert">Could not read the settings: {loadError}</p>;
  if (!settings) return <p aria-busy="true">Loading…</p>;

  return (
    <div class="page" aria-busy={busy > 0}>
      <header class="masthead">
        <h1>Face Cloak settings</h1>
        <p class="muted">
          Changes are saved at once, on this device only. <a href="protect.html">Protect photos on this computer</a>
        </p>
      </header>
      <Sites settings={settings} save={save} onSaved={setSettings} />
      <General settings={settings} save={save} onSaved={setSettings} />
      <Recent settings={settings} save={save} onSaved={setSettings} />
      <PersonalMaskSection />
      <Backup settings={settings} save={save} onSaved={setSettings} />
    </div>
  );
}

type Save = <T>(change: () => Promise<T>, onError: (text: string) => void) => Promise<T | undefined>;

function Sites({ settings, save, onSaved }: { settings: Settings; save: Save; onSaved(s: Settings): void }) {
  const sites = [
    ...BUILTIN_SITES.filter((site) => settings.sites[site]),
    ...Object.keys(settings.sites).filter((site) => !isBuiltin(site)).sort(),
  ];
  const access = useAccess(sites);
  const [message, setMessage] = useState<Message>(null);
  const [typed, setTyped] = useState('');
  const [inputError, setInputError] = useState<string | null>(null);
  const fail = (text: string) => setMessage({ kind: 'error', text });

  const add = (event: Event) => {
    event.preventDefault();
    setMessage(null);
    const site = siteFromInput(typed);
    if (!site) {
      setInputError('Type a site name such as example.org.');
      return;
    }
    if (settings.sites[site]) {
      setInputError(`${site} is already in the list.`);
      return;
    }
    setInputError(null);
    // First, inside the click: browsers grant permissions only from a user gesture.
    const asked = chrome.permissions.request({ origins: [originFor(site)] }).catch(() => false);
    void save(async () => {
      const granted = await asked;
      await sendMessage('background:setSiteSettings', {
        site,
        patch: { enabled: granted, strength: settings.otherSites.strength },
      });
      setTyped('');
      setMessage(
        granted
          ? { kind: 'ok', text: `Added ${site}: photos you upload there are protected.` }
          : {
              kind: 'info',
              text: `Added ${site}, switched off: Face Cloak was not allowed to see its pages. Use "Allow" in its row to turn it on.`,
            },
      );
    }, fail);
  };

  const setSite = (site: string, patch: Partial<SiteSettings>) => {
    setMessage(null);
    // Switching a site on that Face Cloak cannot see: ask first, from this click.
    const needsAccess = patch.enabled === true && !access[site];
    const asked = needsAccess ? chrome.permissions.request({ origins: [originFor(site)] }).catch(() => false) : Promise.resolve(true);
    // Shown at once (a controlled input would otherwise snap back until the background answers); a failed write is
    // undone by the reload that follows every storage change, or stays as the error says.
    if (!needsAccess) onSaved({ ...settings, sites: { ...settings.sites, [site]: { ...settings.sites[site]!, ...patch } } });
    void save(async () => {
      if (!(await asked)) {
        setMessage({ kind: 'info', text: `${site} stays off: Face Cloak was not allowed to see its pages.` });
        return;
      }
      await sendMessage('background:setSiteSettings', { site, patch });
    }, fail);
  };

  const allow = (site: string) => {
    const asked = chrome.permissions.request({ origins: [originFor(site)] }).catch(() => false);
    void save(async () => {
      if (await asked) setMessage({ kind: 'ok', text: `Face Cloak may now see ${site}.` });
      else setMessage({ kind: 'info', text: `Access to ${site} was not granted.` });
    }, fail);
  };

  const remove = (site: string) => {
    setMessage(null);
    void save(async () => {
      if (!isBuiltin(site)) await chrome.permissions.remove({ origins: [originFor(site)] }).catch(() => false);
      await sendMessage('background:removeSite', { site });
      setMessage({
        kind: 'ok',
        text: isBuiltin(site) ? `${site} is back to its defaults.` : `Removed ${site}; it now follows the settings for other sites.`,
      });
    }, fail);
  };

  const defaults = createDefaultSettings().sites;
  return (
    <section class="card" aria-labelledby="sites-title">
      <h2 id="sites-title">Sites</h2>
      <p class="muted small">
        Face Cloak protects the photos you upload to these sites. It needs to see a site's pages to catch uploads
        there; the sites that come with Face Cloak have that access from the start.
      </p>
      <table class="sites" data-testid="sites">
        <thead>
          <tr>
            <th scope="col">Site</th>
            <th scope="col">Protect uploads</th>
            <th scope="col">Strength</th>
            <th scope="col">Access</th>
            <th scope="col">
              <span class="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {sites.map((site) => {
            const value = settings.sites[site]!;
            const builtin = isBuiltin(site);
            const changed = builtin && JSON.stringify(value) !== JSON.stringify(defaults[site]);
            return (
              <tr key={site} data-site={site}>
                <th scope="row" class="site-name">
                  {site}
                  {builtin && <span class="tag">built in</span>}
                </th>
                <td data-label="Protect uploads">
                  <label class="switch">
                    <input
                      type="checkbox"
                      checked={value.enabled}
                      aria-label={`Protect uploads on ${site}`}
                      onChange={(event) => setSite(site, { enabled: event.currentTarget.checked })}
                    />
                    <span aria-hidden="true">{value.enabled ? 'On' : 'Off'}</span>
                  </label>
                </td>
                <td data-label="Strength">
                  <select
                    aria-label={`Strength on ${site}`}
                    value={value.strength}
                    onChange={(event) => setSite(site, { strength: event.currentTarget.value as Strength })}
                  >
                    {STRENGTHS.map((s) => (
                      <option key={s} value={s}>
                        {STRENGTH_LABELS[s]}
                      </option>
                    ))}
                  </select>
                </td>
                <td data-label="Access" data-testid="access">
                  {access[site] === undefined ? (
                    '…'
                  ) : access[site] ? (
                    <span class="ok">Allowed</span>
                  ) : (
                    <span class="warn">
                      Not allowed{' '}
                      <button type="button" class="small-button" onClick={() => allow(site)} aria-label={`Allow Face Cloak on ${site}`}>
                        Allow
                      </button>
                    </span>
                  )}
                </td>
                <td class="row-actions">
                  {builtin ? (
                    changed && (
                      <button type="button" class="small-button" onClick={() => remove(site)} aria-label={`Reset ${site} to its defaults`}>
                        Reset
                      </button>
                    )
                  ) : (
                    <button type="button" class="small-button" onClick={() => remove(site)} aria-label={`Remove ${site}`}>
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <form class="add-site" onSubmit={add} noValidate>
        <label for="add-site-input">Add a site</label>
        <div class="add-site-row">
          <input
            id="add-site-input"
            type="text"
            inputMode="url"
            autoComplete="off"
            spellcheck={false}
            placeholder="example.org"
            value={typed}
            aria-invalid={inputError !== null}
            aria-describedby="add-site-help"
            onInput={(event) => {
              setTyped(event.currentTarget.value);
              setInputError(null);
            }}
          />
          <button type="submit">Add</button>
        </div>
        <p id="add-site-help" class={inputError ? 'field-error' : 'muted small'} role={inputError ? 'alert' : undefined}>
          {inputError ?? 'Its pages and those of its subdomains; your browser asks you to allow access.'}
        </p>
      </form>
      <Notice message={message} />
    </section>
  );
}

function General({ settings, save, onSaved }: { settings: Settings; save: Save; onSaved(s: Settings): void }) {
  const [message, setMessage] = useState<Message>(null);
  const [timeout, setTimeoutText] = useState(String(settings.cloakTimeoutSeconds));
  const [timeoutError, setTimeoutError] = useState<string | null>(null);
  useEffect(() => setTimeoutText(String(settings.cloakTimeoutSeconds)), [settings.cloakTimeoutSeconds]);

  const update = (patch: Partial<GeneralSettings>) => {
    onSaved({ ...settings, ...patch }); // At once, as for the sites.
    return save(async () => {
      onSaved(await sendMessage('background:updateSettings', patch));
      setMessage(null);
      return true;
    }, (text) => setMessage({ kind: 'error', text }));
  };

  const commitTimeout = () => {
    const seconds = Number(timeout);
    if (!Number.isInteger(seconds) || seconds < CLOAK_TIMEOUT_SECONDS.min || seconds > CLOAK_TIMEOUT_SECONDS.max) {
      setTimeoutError(`A whole number of seconds from ${CLOAK_TIMEOUT_SECONDS.min} to ${CLOAK_TIMEOUT_SECONDS.max}.`);
      return;
    }
    setTimeoutError(null);
    if (seconds !== settings.cloakTimeoutSeconds) void update({ cloakTimeoutSeconds: seconds });
  };

  return (
    <section class="card" aria-labelledby="general-title">
      <h2 id="general-title">Uploads</h2>
      <fieldset class="group">
        <legend>Other sites</legend>
        <p class="muted small">
          For a site that is not in the list once you allow Face Cloak to see it (for example from the toolbar popup).
        </p>
        <label class="row">
          <input
            type="checkbox"
            checked={settings.otherSites.enabled}
            onChange={(event) => void update({ otherSites: { ...settings.otherSites, enabled: event.currentTarget.checked } })}
          />{' '}
          Protect uploads on other sites
        </label>
        <label class="row">
          Strength on other sites{' '}
          <select
            value={settings.otherSites.strength}
            onChange={(event) =>
              void update({ otherSites: { ...settings.otherSites, strength: event.currentTarget.value as Strength } })
            }
          >
            {STRENGTHS.map((s) => (
              <option key={s} value={s}>
                {STRENGTH_LABELS[s]}
              </option>
            ))}
          </select>
        </label>
      </fieldset>

      <div class="group">
        <label for="timeout-input" class="label-strong">
          Time limit per photo
        </label>
        <p class="muted small" id="timeout-help">
          When a photo takes longer, Face Cloak stops and does what you choose below. The first photo also waits for
          the face models to load.
        </p>
        <div class="row">
          <input
            id="timeout-input"
            type="number"
            min={CLOAK_TIMEOUT_SECONDS.min}
            max={CLOAK_TIMEOUT_SECONDS.max}
            step={1}
            value={timeout}
            aria-describedby={timeoutError ? 'timeout-error' : 'timeout-help'}
            aria-invalid={timeoutError !== null}
            onInput={(event) => setTimeoutText(event.currentTarget.value)}
            onChange={commitTimeout}
            onKeyDown={(event) => event.key === 'Enter' && commitTimeout()}
          />{' '}
          seconds
        </div>
        {timeoutError && (
          <p id="timeout-error" class="field-error" role="alert">
            {timeoutError}
          </p>
        )}
      </div>

      <fieldset class="group">
        <legend>When cloaking fails or takes too long</legend>
        {FAILURE_CHOICES.map((choice) => (
          <label class="row choice" key={choice}>
            <input
              type="radio"
              name="on-failure"
              checked={settings.onCloakFailure === choice}
              onChange={() => void update({ onCloakFailure: choice })}
            />{' '}
            <span>
              <strong>{FAILURE_TEXT[choice].label}</strong> <span class="muted">{FAILURE_TEXT[choice].note}</span>
            </span>
          </label>
        ))}
      </fieldset>
      <Notice message={message} />
    </section>
  );
}

function Recent({ settings, save, onSaved }: { settings: Settings; save: Save; onSaved(s: Settings): void }) {
  const [count, setCount] = useState<number | null>(null);
  const [message, setMessage] = useState<Message>(null);
  useEffect(() => {
    const load = () => sendMessage('background:getRecentCloaks').then((list) => setCount(list.length), () => setCount(null));
    void load();
    const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string) => {
      if (area === 'local' && RECENT_CLOAKS_STORAGE_KEY in changes) void load();
    };
    chrome.storage.onChanged.addListener(onChanged);
    return () => chrome.storage.onChanged.removeListener(onChanged);
  }, [settings.recentCloaksDays]);

  const fail = (text: string) => setMessage({ kind: 'error', text });
  return (
    <section class="card" id="recent" aria-labelledby="recent-title">
      <h2 id="recent-title">Recent cloaks</h2>
      <p class="muted small">
        Small before/after pictures, faces found and the protection estimate of the photos you protected lately, for the
        popup and the protect page. Kept on this device only. Without them there is no protection estimate.
      </p>
      <div class="row">
        <label for="recent-days">Keep recent cloaks for</label>{' '}
        <select
          id="recent-days"
          value={String(settings.recentCloaksDays)}
          onChange={(event) => {
            const recentCloaksDays = Number(event.currentTarget.value) as RecentCloaksDays;
            onSaved({ ...settings, recentCloaksDays });
            void save(async () => onSaved(await sendMessage('background:updateSettings', { recentCloaksDays })), fail);
          }}
        >
          {RECENT_CLOAKS_DAYS.map((days) => (
            <option key={days} value={String(days)}>
              {DAYS_LABELS[days]}
            </option>
          ))}
        </select>
      </div>
      <div class="row">
        <span data-testid="recent-count">
          {count === null ? '' : count === 0 ? 'None kept now.' : `${count} kept now.`}
        </span>{' '}
        <button
          type="button"
          disabled={!count}
          onClick={() =>
            void save(async () => {
              await sendMessage('background:clearRecentCloaks');
              setMessage({ kind: 'ok', text: 'Recent cloaks cleared.' });
            }, fail)
          }
        >
          Clear recent cloaks
        </button>
      </div>
      <Notice message={message} />
    </section>
  );
}

function Backup({ settings, save, onSaved }: { settings: Settings; save: Save; onSaved(s: Settings): void }) {
  const [message, setMessage] = useState<Message>(null);
  const [confirmReset, setConfirmReset] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);

  const exportSettings = () => {
    const blob = new Blob([`${JSON.stringify(settings, null, 2)}\n`], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `face-cloak-settings-${new Date().toISOString().slice(0, 10)}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    setMessage({ kind: 'ok', text: `Exported the settings as ${a.download}.` });
  };

  const importFile = async (file: File) => {
    setMessage(null);
    let data: unknown;
    try {
      data = JSON.parse(await file.text());
    } catch {
      setMessage({ kind: 'error', text: `${file.name} is not a settings file: it is not valid JSON. Nothing was changed.` });
      return;
    }
    const problem = exportProblem(data);
    if (problem) {
      setMessage({ kind: 'error', text: `${problem} Nothing was changed.` });
      return;
    }
    await save(
      async () => {
        const imported = await sendMessage('background:importSettings', { settings: data });
        onSaved(imported);
        const warnings = importWarnings(data as Record<string, unknown>, imported);
        const needAccess = Object.keys(imported.sites).filter((site) => !isBuiltin(site));
        setMessage({
          kind: warnings.length ? 'info' : 'ok',
          text:
            `Imported ${file.name}: ${Object.keys(imported.sites).length} sites.` +
            (needAccess.length ? ' Sites you added need access again on this device: use "Allow" in their rows.' : ''),
          details: warnings,
        });
      },
      (text) => setMessage({ kind: 'error', text: `Import failed: ${text}. Nothing was changed.` }),
    );
  };

  return (
    <section class="card" aria-labelledby="backup-title">
      <h2 id="backup-title">Back up and restore</h2>
      <div class="row buttons">
        <button type="button" onClick={exportSettings}>
          Export settings
        </button>
        <button type="button" onClick={() => fileInput.current?.click()}>
          Import settings…
        </button>
        <input
          ref={fileInput}
          type="file"
          accept="application/json,.json"
          class="visually-hidden"
          tabIndex={-1}
          aria-label="Settings file to import"
          data-testid="import-input"
          onChange={(event) => {
            const file = event.currentTarget.files?.[0];
            event.currentTarget.value = '';
            if (file) void importFile(file);
          }}
        />
        {!confirmReset ? (
          <button type="button" class="danger" onClick={() => setConfirmReset(true)}>
            Reset to defaults…
          </button>
        ) : (
          <span class="confirm" role="group" aria-label="Confirm reset">
            <span>Every site back to its defaults, added sites removed?</span>{' '}
            <button
              type="button"
              class="danger"
              autoFocus
              onClick={() =>
                void save(async () => {
                  onSaved(await sendMessage('background:resetSettings'));
                  setConfirmReset(false);
                  setMessage({ kind: 'ok', text: 'Settings are back to their defaults.' });
                }, (text) => setMessage({ kind: 'error', text }))
              }
            >
              Reset
            </button>{' '}
            <button type="button" onClick={() => setConfirmReset(false)}>
              Keep my settings
            </button>
          </span>
        )}
      </div>
      <Notice message={message} />
    </section>
  );
}

render(<Options />, document.getElementById('app')!);
