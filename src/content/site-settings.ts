/**
 * This page's site settings as the background reports them (the background derives the site from the sender, so a
 * page cannot ask for another site's), kept current when the user changes them in the popup.
 */
import { sendMessage, type SiteSettingsReply } from '../shared/messages.ts';
import { onSettingsStored } from '../shared/settings-watch.ts';

let current: SiteSettingsReply | null = null;
const listeners: ((settings: SiteSettingsReply | null) => void)[] = [];
let firstAnswer: Promise<void> | null = null;

/** The last answer; null until the first one arrives (or when the extension is unreachable). */
export function siteSettings(): SiteSettingsReply | null {
  return current;
}

/** Calls `listener` with every answer (null when the extension became unreachable). */
export function onSiteSettings(listener: (settings: SiteSettingsReply | null) => void): void {
  listeners.push(listener);
}

/** The settings once the first answer is in (null if it failed). */
export async function siteSettingsReady(): Promise<SiteSettingsReply | null> {
  await firstAnswer;
  return current;
}

export function watchSiteSettings(): void {
  onSettingsStored(() => void refresh());
  firstAnswer = refresh();
}

async function refresh(): Promise<void> {
  try {
    current = await sendMessage('background:getSiteSettings');
    if (__TEST__) console.debug('[face-cloak] site settings:', current);
  } catch (error) {
    // The extension was reloaded or updated under this page: its old content scripts lose their connection.
    current = null;
    console.debug('[face-cloak] could not read site settings:', error);
  }
  for (const listener of listeners) listener(current);
}
