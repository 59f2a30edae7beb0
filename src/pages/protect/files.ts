/**
 * The protect page's file rules, pure so they are unit-tested: which files it takes (and why not the others), and
 * what a cloaked copy is called.
 */
import { MAX_CLOAK_FILE_BYTES } from '../../shared/messages.ts';

/** Formats the engine decodes (GIF, BMP and AVIF come back as PNG). */
const ACCEPTED = new Map([
  ['image/jpeg', 'JPEG'],
  ['image/jpg', 'JPEG'],
  ['image/pjpeg', 'JPEG'],
  ['image/png', 'PNG'],
  ['image/webp', 'WebP'],
  ['image/gif', 'GIF'],
  ['image/bmp', 'BMP'],
  ['image/avif', 'AVIF'],
]);
const ACCEPTED_EXTENSIONS = /\.(jpe?g|jfif|png|webp|gif|bmp|avif)$/i;

/** For the file input's `accept`: images, so the picker offers them first (others can still be dropped). */
export const ACCEPT = 'image/*';

/**
 * Why the protect page will not take `file`, in a sentence; null when it will. The type comes from the browser
 * (from the extension, on most systems), so an unknown type with a known extension is given a chance: the engine
 * reads the bytes themselves and says so when they are not an image.
 */
export function refusalReason(file: { name: string; type: string; size: number }): string | null {
  const type = file.type.toLowerCase();
  if (type === 'image/svg+xml') return 'Not a photo: vector drawings (SVG) have no pixels to cloak.';
  if (type === 'image/heic' || type === 'image/heif' || /\.(heic|heif)$/i.test(file.name)) {
    return 'HEIC photos cannot be read here: export it as JPEG first.';
  }
  const known = ACCEPTED.has(type) || ((type === '' || type === 'application/octet-stream') && ACCEPTED_EXTENSIONS.test(file.name));
  if (!known) {
    const what = type.startsWith('video/') ? 'a video' : type.startsWith('image/') ? `a ${type.slice(6).toUpperCase()} image` : 'an image';
    return what === 'an image'
      ? 'Not an image: only JPEG, PNG, WebP, GIF, BMP and AVIF photos can be protected.'
      : `This is ${what}: only JPEG, PNG, WebP, GIF, BMP and AVIF photos can be protected.`;
  }
  if (file.size === 0) return 'This file is empty.';
  if (file.size > MAX_CLOAK_FILE_BYTES) return `Too large: at most ${MAX_CLOAK_FILE_BYTES >> 20} MB.`;
  return null;
}

const EXTENSION_OF: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp' };

/**
 * The cloaked copy's name: `-cloaked` before the extension (`beach.jpg` -> `beach-cloaked.jpg`). The extension is the
 * original's when the format stayed, else the output's (`party.gif` -> `party-cloaked.png`). A photo left unchanged
 * (no face) keeps its own name: it is the original, and a "-cloaked" name would claim otherwise.
 */
export function cloakedFileName(original: string, outputMime: string, unchanged: boolean): string {
  if (unchanged) return original;
  const dot = original.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [original.slice(0, dot), original.slice(dot + 1)] : [original || 'image', ''];
  const outputExt = EXTENSION_OF[outputMime];
  const sameFormat = outputExt !== undefined && ext !== '' && (EXTENSION_OF[mimeOfExtension(ext)] === outputExt);
  return `${stem}-cloaked.${sameFormat ? ext : (outputExt ?? (ext || 'png'))}`;
}

function mimeOfExtension(ext: string): string {
  const e = ext.toLowerCase();
  if (e === 'jpg' || e === 'jpeg' || e === 'jfif' || e === 'jpe') return 'image/jpeg';
  return `image/${e}`;
}
