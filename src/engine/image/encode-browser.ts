/**
 * Image encoding in extension pages and offscreen documents: OffscreenCanvas.convertToBlob, the browser's own
 * encoders. Like encode-node.ts, nothing but pixels is written: no EXIF (GPS, camera serial), XMP, IPTC or ICC
 * profile (the pixels are 8-bit sRGB already, see decode-browser.ts). Not usable in Node; tested in Chromium.
 *
 * Differences from encode-node.ts that a caller may notice: the browser picks the JPEG chroma subsampling itself
 * (Chromium: 4:2:0 below quality 1.0), and a canvas stores premultiplied alpha, so the colour of semi-transparent
 * pixels is rounded the way the browser decoder already rounded it when the file was read (decode-browser.ts goes
 * through the same kind of canvas), and fully transparent pixels come out black.
 */
import { decodeImageBrowser } from './decode-browser.ts';
import { type ImageFormat, type RgbImage, assertEncodable } from './types.ts';

export type BrowserEncodeFormat = 'jpeg' | 'png' | 'webp';

const MIME: Record<BrowserEncodeFormat, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/** JPEG and WebP quality on the canvas scale (0-1): 0.92, the project's output quality (README). */
export const defaultBrowserEncodeQuality = 0.92;

/**
 * The output format for an input format: JPEG, PNG and WebP stay as they are; GIF (first frame), AVIF and BMP
 * become PNG (lossless, keeps alpha; AVIF encoding is not available from a canvas).
 */
export function outputFormatFor(input: ImageFormat): BrowserEncodeFormat {
  return input === 'jpeg' || input === 'png' || input === 'webp' ? input : 'png';
}

export function mimeOf(format: BrowserEncodeFormat): string {
  return MIME[format];
}

/**
 * Encodes RGB (+ optional alpha, 1 byte per pixel) as JPEG, PNG or WebP. JPEG has no alpha: a transparent image is
 * flattened onto white, as encode-node.ts does. Throws RangeError on inconsistent input, and a plain Error when the
 * browser's encoder fails or returns another format than asked (a browser without a WebP encoder returns PNG).
 */
export async function encodeImageBrowser(
  image: RgbImage & { alpha?: Uint8Array },
  format: BrowserEncodeFormat,
  options: { quality?: number } = {},
): Promise<Uint8Array> {
  const { width, height, data, alpha } = image;
  assertEncodable(image);
  const pixels = width * height;
  const quality = options.quality ?? defaultBrowserEncodeQuality;
  if (!(quality > 0 && quality <= 1)) throw new RangeError(`Quality must be in (0, 1], not ${quality}.`);
  if (!(format in MIME)) throw new RangeError(`Unknown output format ${String(format)}.`);

  const rgba = new Uint8ClampedArray(pixels * 4);
  const flatten = format === 'jpeg' && alpha !== undefined;
  for (let p = 0, s = 0, d = 0; p < pixels; p++, s += 3, d += 4) {
    const a = alpha ? alpha[p] : 255;
    if (flatten) {
      // Composite onto white: c * a + 255 * (1 - a).
      rgba[d] = Math.round((data[s] * a + 255 * (255 - a)) / 255);
      rgba[d + 1] = Math.round((data[s + 1] * a + 255 * (255 - a)) / 255);
      rgba[d + 2] = Math.round((data[s + 2] * a + 255 * (255 - a)) / 255);
      rgba[d + 3] = 255;
    } else {
      rgba[d] = data[s];
      rgba[d + 1] = data[s + 1];
      rgba[d + 2] = data[s + 2];
      rgba[d + 3] = a;
    }
  }

  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { colorSpace: 'srgb' });
  if (!ctx) throw new Error('OffscreenCanvas 2d context is not available.');
  // putImageData writes the pixels as they are (no compositing), so outside the faces the encoder sees the decoder's
  // values exactly.
  ctx.putImageData(new ImageData(rgba, width, height, { colorSpace: 'srgb' }), 0, 0);
  const blob = await canvas.convertToBlob(format === 'png' ? { type: MIME[format] } : { type: MIME[format], quality });
  if (blob.type !== MIME[format]) {
    throw new Error(`This browser encoded ${blob.type || 'an unknown type'} when asked for ${MIME[format]}.`);
  }
  // Free the backing store now rather than at the next garbage collection: photos are tens of MB of pixels.
  canvas.width = 0;
  canvas.height = 0;
  return new Uint8Array(await blob.arrayBuffer());
}

/** JPEG encode and decode at `quality` (1-100, the libjpeg scale): the protection estimate's JPEG defense. */
export async function jpegRoundTripBrowser(image: RgbImage, quality: number): Promise<RgbImage> {
  const decoded = await decodeImageBrowser(await encodeImageBrowser(image, 'jpeg', { quality: quality / 100 }));
  return { width: decoded.width, height: decoded.height, data: decoded.data };
}

/**
 * A small JPEG of `image` as a data: URL, `size` pixels on its long side (never enlarged), for the recent cloaks'
 * before/after. Scaled by the canvas with high-quality smoothing: a thumbnail, not a measurement.
 */
export async function thumbnailDataUrl(image: RgbImage, size: number, quality = 0.8): Promise<string> {
  assertEncodable(image);
  const scale = Math.min(1, size / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * scale));
  const height = Math.max(1, Math.round(image.height * scale));
  const pixels = image.width * image.height;
  const rgba = new Uint8ClampedArray(pixels * 4);
  for (let p = 0, s = 0, d = 0; p < pixels; p++, s += 3, d += 4) {
    rgba[d] = image.data[s];
    rgba[d + 1] = image.data[s + 1];
    rgba[d + 2] = image.data[s + 2];
    rgba[d + 3] = 255;
  }
  const full = new OffscreenCanvas(image.width, image.height);
  const small = new OffscreenCanvas(width, height);
  const fullCtx = full.getContext('2d', { colorSpace: 'srgb' });
  const smallCtx = small.getContext('2d', { colorSpace: 'srgb' });
  if (!fullCtx || !smallCtx) throw new Error('OffscreenCanvas 2d context is not available.');
  fullCtx.putImageData(new ImageData(rgba, image.width, image.height, { colorSpace: 'srgb' }), 0, 0);
  smallCtx.imageSmoothingQuality = 'high';
  smallCtx.drawImage(full, 0, 0, width, height);
  full.width = 0;
  full.height = 0;
  const bytes = new Uint8Array(await (await small.convertToBlob({ type: 'image/jpeg', quality })).arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return `data:image/jpeg;base64,${btoa(binary)}`;
}
