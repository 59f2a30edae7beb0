/**
 * Image encoding in Node, with sharp. No metadata is written: EXIF (GPS, camera serial), XMP, IPTC and ICC are
 * all left out, since the pixels are 8-bit sRGB already.
 */
import sharp from 'sharp';
import { decodeImageNode } from './decode-node.ts';
import { type RgbImage, assertEncodable } from './types.ts';

export type EncodeFormat = 'jpeg' | 'png' | 'webp';

export interface EncodeOptions {
  /** 1-100 for JPEG and WebP (default 92); ignored for PNG. */
  quality?: number;
}

export const defaultEncodeQuality = 92;

/**
 * Encode RGB (+ optional alpha) to JPEG (4:4:4 chroma), PNG or WebP. JPEG has no alpha: a transparent image is
 * flattened onto white.
 */
export async function encodeImageNode(
  image: RgbImage & { alpha?: Uint8Array },
  format: EncodeFormat,
  opts: EncodeOptions = {},
): Promise<Uint8Array> {
  const { width, height, data, alpha } = image;
  assertEncodable(image);
  const pixels = width * height;
  const quality = opts.quality ?? defaultEncodeQuality;
  if (!(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
    throw new RangeError(`Quality must be an integer from 1 to 100, not ${quality}.`);
  }

  let raw: Buffer;
  let channels: 3 | 4;
  if (alpha) {
    raw = Buffer.alloc(pixels * 4);
    for (let p = 0, s = 0, d = 0; p < pixels; p++, s += 3, d += 4) {
      raw[d] = data[s];
      raw[d + 1] = data[s + 1];
      raw[d + 2] = data[s + 2];
      raw[d + 3] = alpha[p];
    }
    channels = 4;
  } else {
    raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    channels = 3;
  }

  let pipeline = sharp(raw, { raw: { width, height, channels } });
  switch (format) {
    case 'jpeg':
      if (alpha) pipeline = pipeline.flatten({ background: { r: 255, g: 255, b: 255 } });
      pipeline = pipeline.jpeg({ quality, chromaSubsampling: '4:4:4' });
      break;
    case 'png':
      pipeline = pipeline.png();
      break;
    case 'webp':
      pipeline = pipeline.webp({ quality, alphaQuality: 100 });
      break;
    default:
      throw new RangeError(`Unknown output format ${String(format)}.`);
  }
  const out = await pipeline.toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Encodes as JPEG at `quality` and decodes again: the JPEG defense of the protection estimate, in Node. */
export async function jpegRoundTripNode(image: RgbImage, quality: number): Promise<RgbImage> {
  const decoded = await decodeImageNode(await encodeImageNode(image, 'jpeg', { quality }));
  return { width: decoded.width, height: decoded.height, data: decoded.data };
}
