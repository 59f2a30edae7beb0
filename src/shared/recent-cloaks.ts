/**
 * Recent cloaks: what the popup (and the protect page) show about photos cloaked lately: small before/after
 * thumbnails, faces, time taken, and the protection estimate, which arrives later (it runs after the cloaked file
 * was handed over, so it never delays an upload). Kept in chrome.storage.local on this device only, for the number of
 * days the person chose (settings' `recentCloaksDays`, 0 = keep none), and clearable.
 *
 * Pure code (types, limits, pruning, validation): the background's RecentCloaksStore is the only writer; the offscreen
 * document reports cloaks and estimates to it with 'background:recordCloak' / 'background:recordEstimate'.
 */
import type { ProtectionEstimate } from '../engine/evaluate/estimate.ts';
import type { Strength } from './settings.ts';

export type { EstimateCell, EstimateRecognizer, ProtectionEstimate } from '../engine/evaluate/estimate.ts';

export const RECENT_CLOAKS_STORAGE_KEY = 'recentCloaks';

/** At most this many records (newest kept): with two ~10 KB thumbnails each, far below storage.local's 10 MB. */
export const MAX_RECENT_CLOAKS = 30;

/** Long side of the before/after thumbnails, pixels (JPEG data: URLs). */
export const THUMBNAIL_SIZE = 240;

/** Where a cloak came from. */
export type CloakSource = 'upload' | 'protect-image' | 'protect-page';

/** What the background tells the offscreen document about a job, so its record says where the photo went. */
export interface CloakOrigin {
  source: CloakSource;
  /** Settings key of the site the photo was uploaded to or taken from; null for the protect page. */
  site: string | null;
  /** The file's name when known (protect page); never a path. */
  fileName?: string;
}

export type RecentCloakEstimate =
  | { state: 'pending' }
  | { state: 'done'; value: ProtectionEstimate }
  | { state: 'failed'; message: string }
  /** Not measured, e.g. too many photos waited for an estimate at once; says why. */
  | { state: 'skipped'; reason: string };

export interface RecentCloak extends CloakOrigin {
  /** The cloak job's id. */
  id: string;
  /** When the cloak finished, ms since the epoch. */
  at: number;
  strength: Strength;
  width: number;
  height: number;
  /** Faces cloaked. */
  faces: number;
  skippedSmallFaces: number;
  /** From the file arriving in the engine to the cloaked file being ready, ms. */
  totalMs: number;
  /** Lowest face SSIM among the cloaked faces (1 = identical): how visible the cloak is. */
  minFaceSsim: number | null;
  /** JPEG data: URLs, THUMBNAIL_SIZE long side, of the original and of the cloaked photo. */
  before: string;
  after: string;
  estimate: RecentCloakEstimate;
}

/** The records still within `days` of `now`, newest first, at most MAX_RECENT_CLOAKS. */
export function pruneRecentCloaks(records: readonly RecentCloak[], now: number, days: number): RecentCloak[] {
  const oldest = now - days * 24 * 3600 * 1000;
  return records
    .filter((record) => record.at > oldest && record.at <= now + 60_000)
    .sort((a, b) => b.at - a.at)
    .slice(0, MAX_RECENT_CLOAKS);
}

/** Stored data as records: anything that is not a well-formed record is dropped (hand-edited or older shapes). */
export function parseRecentCloaks(raw: unknown): RecentCloak[] {
  return Array.isArray(raw) ? raw.filter(isRecentCloak) : [];
}

const DATA_URL = /^data:image\/(jpeg|png|webp);base64,[A-Za-z0-9+/=]+$/;

export function isRecentCloak(value: unknown): value is RecentCloak {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<RecentCloak>;
  return (
    typeof r.id === 'string' && r.id.length > 0 && r.id.length <= 64 &&
    (r.source === 'upload' || r.source === 'protect-image' || r.source === 'protect-page') &&
    (r.site === null || typeof r.site === 'string') &&
    (r.fileName === undefined || typeof r.fileName === 'string') &&
    isFiniteNumber(r.at) && isFiniteNumber(r.width) && isFiniteNumber(r.height) &&
    isFiniteNumber(r.faces) && isFiniteNumber(r.skippedSmallFaces) && isFiniteNumber(r.totalMs) &&
    (r.minFaceSsim === null || isFiniteNumber(r.minFaceSsim)) &&
    (r.strength === 'low' || r.strength === 'mid' || r.strength === 'high') &&
    typeof r.before === 'string' && DATA_URL.test(r.before) &&
    typeof r.after === 'string' && DATA_URL.test(r.after) &&
    isRecentCloakEstimate(r.estimate)
  );
}

export function isRecentCloakEstimate(value: unknown): value is RecentCloakEstimate {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as { state?: unknown; value?: unknown; message?: unknown; reason?: unknown };
  switch (e.state) {
    case 'pending':
      return true;
    case 'done':
      return isProtectionEstimate(e.value);
    case 'failed':
      return typeof e.message === 'string';
    case 'skipped':
      return typeof e.reason === 'string';
    default:
      return false;
  }
}

function isProtectionEstimate(value: unknown): value is ProtectionEstimate {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Partial<ProtectionEstimate>;
  return (
    Array.isArray(e.recognizers) && Array.isArray(e.defenses) && Array.isArray(e.cells) &&
    isFiniteNumber(e.faces) && isFiniteNumber(e.unjudgedFaces) &&
    (e.heldOutProtection === null || isFiniteNumber(e.heldOutProtection))
  );
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
