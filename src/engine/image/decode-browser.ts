/**
 * Image decoding in extension pages and offscreen documents: createImageBitmap + OffscreenCanvas.
 * Not usable in Node (no createImageBitmap); tested in Chromium.
 *
 * The browser has no pixel limit of its own, so the header (header.ts) is read first and oversized or visibly
 * truncated files are refused before any pixel is decoded.
 */
import { checkDecodeLimits, formatName, readImageHeader } from './header.ts';
import { rgbFromRgba } from './pixels.ts';
import { ImageError, defaultDecodeLimits, type DecodeLimits, type DecodedImage, type ImageFormat } from './types.ts';

const MIME: Record<ImageFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  bmp: 'image/bmp',
};

/**
 * Decode image bytes to 8-bit sRGB RGB with the EXIF orientation applied; alpha only when not fully opaque;
 * first frame of animations. Throws ImageError for bad input, and a plain Error when the context lacks
 * createImageBitmap / OffscreenCanvas (a programming error, not bad input).
 */
export async function decodeImageBrowser(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Promise<DecodedImage> {
  const lim: DecodeLimits = { ...defaultDecodeLimits, ...limits };
  const header = readImageHeader(bytes);
  const { format } = header;
  const name = formatName(format);
  checkDecodeLimits(header.width, header.height, lim);
  if (header.truncated) throw new ImageError('corrupt', `This ${name} file is incomplete (it was cut short).`);

  if (typeof createImageBitmap !== 'function' || typeof OffscreenCanvas !== 'function') {
    throw new Error('decodeImageBrowser needs createImageBitmap and OffscreenCanvas (an extension page or offscreen document).');
  }

  // Blob needs an ArrayBuffer-backed view; copy when the bytes live in a SharedArrayBuffer.
  const part: Uint8Array<ArrayBuffer> =
    bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(new Blob([part], { type: MIME[format] }), {
      imageOrientation: 'from-image',
      premultiplyAlpha: 'none',
      colorSpaceConversion: 'default',
    });
  } catch (error) {
    throw new ImageError('corrupt', `This ${name} file is damaged or uses a variant this browser cannot decode.`, {
      cause: error,
    });
  }

  try {
    const { width, height } = bitmap;
    checkDecodeLimits(width, height, lim);
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d', { willReadFrequently: true, colorSpace: 'srgb' });
    if (!ctx) throw new Error('OffscreenCanvas 2d context is not available.');
    ctx.drawImage(bitmap, 0, 0);
    const imageData = ctx.getImageData(0, 0, width, height, { colorSpace: 'srgb' });
    const { rgb, alpha } = rgbFromRgba(imageData.data);
    const decoded: DecodedImage = {
      width,
      height,
      data: rgb,
      format,
      orientation: header.orientation,
      firstFrameOnly: header.animated,
    };
    if (alpha) decoded.alpha = alpha;
    return decoded;
  } finally {
    bitmap.close();
  }
}
