/**
 * The only writer of the recent cloaks (src/shared/recent-cloaks.ts) in chrome.storage.local. Records arrive from the
 * offscreen document when a cloak is done and again when its estimate is; every read and write drops what is older
 * than settings' `recentCloaksDays`, so shortening the time (or 0) takes effect at once. Writes are serialised: an
 * estimate arriving while a new cloak is being recorded must not overwrite it.
 */
import {
  RECENT_CLOAKS_STORAGE_KEY,
  type RecentCloak,
  type RecentCloakEstimate,
  parseRecentCloaks,
  pruneRecentCloaks,
} from '../shared/recent-cloaks.ts';
import type { SettingsStore } from './settings-store.ts';

export class RecentCloaksStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly settings: SettingsStore, private readonly now: () => number = Date.now) {}

  list(): Promise<RecentCloak[]> {
    return this.exclusive(async () => (await this.read()).records);
  }

  add(record: RecentCloak): Promise<void> {
    return this.exclusive(async () => {
      const { records, days } = await this.read();
      if (days === 0) return;
      await this.write(pruneRecentCloaks([record, ...records.filter((r) => r.id !== record.id)], this.now(), days));
    });
  }

  /** Sets the estimate of a kept record; nothing happens when the record is gone (cleared, expired). */
  setEstimate(id: string, estimate: RecentCloakEstimate): Promise<void> {
    return this.exclusive(async () => {
      const { records } = await this.read();
      const record = records.find((r) => r.id === id);
      if (!record) return;
      record.estimate = estimate;
      await this.write(records);
    });
  }

  clear(): Promise<void> {
    return this.exclusive(() => chrome.storage.local.remove(RECENT_CLOAKS_STORAGE_KEY));
  }

  /** Drops expired records (after the retention setting changed). */
  prune(): Promise<void> {
    return this.exclusive(async () => void (await this.read()));
  }

  /** The kept records; writes back when some expired, so expired thumbnails do not linger on disk. */
  private async read(): Promise<{ records: RecentCloak[]; days: number }> {
    const days = (await this.settings.get()).recentCloaksDays;
    const stored = parseRecentCloaks((await chrome.storage.local.get(RECENT_CLOAKS_STORAGE_KEY))[RECENT_CLOAKS_STORAGE_KEY]);
    const records = pruneRecentCloaks(stored, this.now(), days);
    if (records.length !== stored.length) await this.write(records);
    return { records, days };
  }

  private async write(records: RecentCloak[]): Promise<void> {
    if (records.length === 0) await chrome.storage.local.remove(RECENT_CLOAKS_STORAGE_KEY);
    else await chrome.storage.local.set({ [RECENT_CLOAKS_STORAGE_KEY]: records });
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
