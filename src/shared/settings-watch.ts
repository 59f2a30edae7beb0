import { SETTINGS_STORAGE_KEY } from './settings.ts';

/**
 * Calls `listener` whenever the stored settings change (any context with storage access: popup, content scripts).
 * Read the new value through the background (`background:getSettings` / `background:getSiteSettings`), which owns
 * parsing and migration. Returns a function that stops listening.
 */
export function onSettingsStored(listener: () => void): () => void {
  const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string): void => {
    if (area === 'local' && SETTINGS_STORAGE_KEY in changes) listener();
  };
  chrome.storage.onChanged.addListener(onChanged);
  return () => chrome.storage.onChanged.removeListener(onChanged);
}
