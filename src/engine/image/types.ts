/**
 * Pixel containers shared by every part of the engine. The engine works on 8-bit RGB in row-major order;
 * alpha travels beside it so a PNG with transparency can be written back unchanged outside the faces.
 */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'avif' | 'bmp';

export interface RgbImage {
  width: number;
  height: number;
  /** RGB, 3 bytes per pixel, row-major, length width * height * 3. */
  data: Uint8Array;
}

export interface DecodedImage extends RgbImage {
  /** Container format detected from the bytes (never from the file name or MIME type). */
  format: ImageFormat;
  /** Alpha channel, 1 byte per pixel, present only when the source had a non-opaque alpha. */
  alpha?: Uint8Array;
  /** EXIF orientation tag (1-8) that was applied to reach `data`; 1 when none. */
  orientation: number;
  /** True when the source was animated and only its first frame was decoded. */
  firstFrameOnly: boolean;
}

export type ImageErrorCode =
  | 'empty' // zero bytes
  | 'unsupported-format' // not an image format we read (or mislabelled as one)
  | 'corrupt' // recognised format, but the bytes cannot be decoded (truncated, damaged)
  | 'too-large' // more pixels than the limit (decompression bombs included)
  | 'too-small'; // smaller than the smallest face we can find

/** The one error type for bad image input: callers switch on `code`, people read `message`. */
export class ImageError extends Error {
  readonly code: ImageErrorCode;
  constructor(code: ImageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ImageError';
    this.code = code;
  }
}

/** Limits applied to every decode; the defaults are what the extension uses. */
export interface DecodeLimits {
  /** Largest accepted width * height. */
  maxPixels: number;
  /** Smallest accepted side in pixels. */
  minSide: number;
}

export const defaultDecodeLimits: DecodeLimits = { maxPixels: 50_000_000, minSide: 16 };

/** Throws a RangeError unless `image` is a well-formed RGB (+ alpha) image an encoder can write. */
export function assertEncodable(image: RgbImage & { alpha?: Uint8Array }): void {
  const { width, height, data, alpha } = image;
  const pixels = width * height;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`Cannot encode a ${width}x${height} image.`);
  }
  if (data.length !== pixels * 3) throw new RangeError(`RGB data has ${data.length} bytes; expected ${pixels * 3}.`);
  if (alpha && alpha.length !== pixels) throw new RangeError(`Alpha has ${alpha.length} bytes; expected ${pixels}.`);
}
