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
