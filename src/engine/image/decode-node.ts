/**
 * Image decoding in Node, with sharp (libvips). Not for the extension: the browser uses decode-browser.ts.
 *
 * Order of checks, so that bad input never costs a full decode:
 *  1. zero bytes -> 'empty';
 *  2. the format from the magic bytes (header.ts) -> 'unsupported-format' when it is none we read;
 *  3. the size from our own header parse -> 'too-large' / 'too-small' before libvips sees the file;
 *  4. sharp's own metadata, checked again, with limitInputPixels as a second guard against decompression bombs;
 *  5. the decode, with failOn: 'truncated' so a cut-off JPEG fails instead of coming back grey-filled (the header
 *     parse already refuses files that visibly end early; this catches the rest).
 */
import sharp, { type SharpOptions } from 'sharp';
import { checkDecodeLimits, formatName, readImageHeader } from './header.ts';
import { rgbFromRgba } from './pixels.ts';
import { ImageError, defaultDecodeLimits, type DecodeLimits, type DecodedImage, type ImageFormat } from './types.ts';

/** sharp's name for each format we read ('heif' is libheif, which sharp ships with AV1 only). */
const SHARP_FORMAT: Partial<Record<ImageFormat, string>> = {
  jpeg: 'jpeg',
  png: 'png',
  webp: 'webp',
  gif: 'gif',
  avif: 'heif',
};

/** A decode that takes longer than this is treated as broken input rather than left to hang. */
const DECODE_TIMEOUT_SECONDS = 60;

/** Map a sharp / libvips failure to an ImageError with a message a person can act on. */
function fromSharpError(error: unknown, format: ImageFormat): ImageError {
  if (error instanceof ImageError) return error;
  const text = error instanceof Error ? error.message : String(error);
  const name = formatName(format);
  if (/exceeds pixel limit/i.test(text)) {
    return new ImageError('too-large', `This ${name} image has more pixels than allowed.`, { cause: error });
  }
  if (/unsupported image format/i.test(text)) {
    return new ImageError('unsupported-format', `This ${name} file uses a variant that cannot be read.`, { cause: error });
  }
  if (/timeout/i.test(text)) {
    return new ImageError('corrupt', `This ${name} file took too long to decode and was given up on.`, { cause: error });
  }
  if (/premature end|truncated|read error|not enough data|unexpected end/i.test(text)) {
    return new ImageError('corrupt', `This ${name} file is incomplete (it was cut short).`, { cause: error });
  }
  return new ImageError('corrupt', `This ${name} file is damaged and cannot be decoded (${text}).`, { cause: error });
}

/**
 * Decode image bytes to 8-bit sRGB RGB, EXIF orientation applied, alpha kept only when it is not fully opaque.
 * Animated images give their first frame. Throws ImageError for every kind of bad input (see ImageErrorCode).
 */
export async function decodeImageNode(bytes: Uint8Array, limits?: Partial<DecodeLimits>): Promise<DecodedImage> {
  const lim: DecodeLimits = { ...defaultDecodeLimits, ...limits };
  const header = readImageHeader(bytes);
  const { format } = header;
  const sharpFormat = SHARP_FORMAT[format];
  if (sharpFormat === undefined) {
    throw new ImageError(
      'unsupported-format',
      `${formatName(format)} images cannot be decoded here; convert the file to JPEG or PNG.`,
    );
  }
  checkDecodeLimits(header.width, header.height, lim);
  if (header.truncated) {
    throw new ImageError('corrupt', `This ${formatName(format)} file is incomplete (it was cut short).`);
  }

  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const options: SharpOptions = {
    failOn: 'truncated',
    limitInputPixels: Math.max(1, Math.floor(lim.maxPixels)),
    pages: 1,
    page: 0,
  };

  try {
    const meta = await sharp(input, options).metadata();
    if (meta.format !== sharpFormat) {
      // Our sniff and libvips disagree: do not trust either with the pixels.
      throw new ImageError(
        'unsupported-format',
        `This file looks like ${formatName(format)} but is read as ${meta.format ?? 'unknown'}; it is not decoded.`,
      );
    }
    const frameHeight = meta.pageHeight ?? meta.height;
    if (meta.width === undefined || frameHeight === undefined) {
      throw new ImageError('corrupt', `This ${formatName(format)} file has no readable size.`);
    }
    checkDecodeLimits(meta.width, frameHeight, lim);

    const { data, info } = await sharp(input, options)
      .timeout({ seconds: DECODE_TIMEOUT_SECONDS })
      .autoOrient()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });

    const { width, height, channels } = info;
    if ((channels !== 3 && channels !== 4) || data.length !== width * height * channels) {
      throw new ImageError(
        'corrupt',
        `This ${formatName(format)} file decoded to an unexpected layout (${channels} channels, ${data.length} bytes).`,
      );
    }
    const { rgb, alpha } =
      channels === 3
        ? { rgb: new Uint8Array(data.buffer, data.byteOffset, data.length), alpha: undefined }
        : rgbFromRgba(new Uint8Array(data.buffer, data.byteOffset, data.length));
    const pages = meta.pages ?? 1;
    const decoded: DecodedImage = {
      width,
      height,
      data: rgb,
      format,
      orientation: meta.orientation !== undefined && meta.orientation >= 1 && meta.orientation <= 8 ? meta.orientation : 1,
      firstFrameOnly: pages > 1,
    };
    if (alpha) decoded.alpha = alpha;
    return decoded;
  } catch (error) {
    throw fromSharpError(error, format);
  }
}
