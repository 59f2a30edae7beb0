/**
 * Pure image header parser, shared by the Node and browser decoders.
 *
 * It sniffs the container format from the magic bytes (never from a file name or MIME type) and reads the
 * dimensions from the header, so an oversized image (a decompression bomb included) is refused before a single
 * pixel is decoded. It also reports what the decoders need to know up front: the EXIF orientation, whether the
 * image is animated, and whether the file is visibly cut short.
 *
 * No DOM, no Node API: runs anywhere.
 */
import { ImageError, type DecodeLimits, type ImageFormat } from './types.ts';

export interface ImageHeader {
  format: ImageFormat;
  /** Stored width and height, before the EXIF orientation is applied. */
  width: number;
  height: number;
  /** EXIF orientation tag (1-8) found in the file; 1 when none or unreadable. */
  orientation: number;
  /** More than one frame (animated GIF, APNG, animated WebP). */
  animated: boolean;
  /**
   * The file visibly ends early: a JPEG without its EOI marker, a PNG without IEND, a GIF without its trailer,
   * a WebP shorter than its RIFF size. Decoders may otherwise fill the missing part with grey.
   */
  truncated: boolean;
}

const FORMAT_NAMES: Record<ImageFormat, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  avif: 'AVIF',
  bmp: 'BMP',
};

/** Human name of a format, for messages. */
export function formatName(format: ImageFormat): string {
  return FORMAT_NAMES[format];
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  let s = '';
  for (let i = start; i < start + length && i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
  return s;
}

const u16be = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1];
const u16le = (b: Uint8Array, i: number): number => b[i] | (b[i + 1] << 8);
const u24le = (b: Uint8Array, i: number): number => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32be = (b: Uint8Array, i: number): number => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const u32le = (b: Uint8Array, i: number): number => ((b[i + 3] << 24) >>> 0) + ((b[i + 2] << 16) | (b[i + 1] << 8) | b[i]);
const i32le = (b: Uint8Array, i: number): number => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);

/** Known BMP DIB header sizes (BITMAPCOREHEADER, INFO, V2, V3, OS/2 v2, V4, V5): "BM" alone is too common in text. */
const BMP_DIB_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

/** ISO-BMFF brands that mean AVIF (HEIC brands are not AVIF and are not read). */
const AVIF_BRANDS = new Set(['avif', 'avis']);

/**
 * The container format from the first bytes, or null when they are not an image format we read.
 * (HEIC, TIFF, SVG, PDF and text are all null.)
 */
export function sniffFormat(bytes: Uint8Array): ImageFormat | null {
  const b = bytes;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (
    b.length >= 8 &&
    b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 &&
    b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a
  ) {
    return 'png';
  }
  if (b.length >= 6 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) return 'gif';
  if (b.length >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if (b.length >= 18 && b[0] === 0x42 && b[1] === 0x4d && BMP_DIB_SIZES.has(u32le(b, 14))) return 'bmp';
  if (b.length >= 16 && ascii(b, 4, 4) === 'ftyp') {
    const boxSize = Math.min(u32be(b, 0), b.length);
    // major brand at 8, minor version at 12, compatible brands from 16 to the end of the box
    if (AVIF_BRANDS.has(ascii(b, 8, 4))) return 'avif';
    for (let i = 16; i + 4 <= boxSize; i += 4) if (AVIF_BRANDS.has(ascii(b, i, 4))) return 'avif';
  }
  return null;
}

function corrupt(format: ImageFormat, detail: string): ImageError {
  return new ImageError('corrupt', `This ${formatName(format)} file is damaged: ${detail}.`);
}

/**
 * Sniff the format and read the header. Throws ImageError: 'empty' for zero bytes, 'unsupported-format' when the
 * bytes are not JPEG/PNG/GIF/WebP/AVIF/BMP, 'corrupt' when they start like one but the header cannot be read.
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  if (bytes.length === 0) throw new ImageError('empty', 'The file is empty (0 bytes).');
  const format = sniffFormat(bytes);
  if (format === null) {
    throw new ImageError(
      'unsupported-format',
      'This file is not an image in a supported format (JPEG, PNG, WebP, GIF, AVIF or BMP).',
    );
  }
  let header: ImageHeader;
  switch (format) {
    case 'jpeg': header = readJpeg(bytes); break;
    case 'png': header = readPng(bytes); break;
    case 'gif': header = readGif(bytes); break;
    case 'webp': header = readWebp(bytes); break;
    case 'bmp': header = readBmp(bytes); break;
    case 'avif': header = readAvif(bytes); break;
  }
  if (!(header.width > 0 && header.height > 0)) {
    throw corrupt(format, `its header gives a size of ${header.width}x${header.height}`);
  }
  return header;
}

/**
 * Refuse sizes outside the limits: 'too-large' over maxPixels, 'too-small' under minSide.
 * Orientation does not matter here: it swaps the sides, not their product or the smaller one.
 */
export function checkDecodeLimits(width: number, height: number, limits: DecodeLimits): void {
  if (width * height > limits.maxPixels) {
    const mp = (width * height / 1e6).toFixed(1);
    throw new ImageError(
      'too-large',
      `The image is ${width}x${height} (${mp} megapixels); the limit is ${(limits.maxPixels / 1e6).toFixed(1)} megapixels.`,
    );
  }
  if (Math.min(width, height) < limits.minSide) {
    throw new ImageError(
      'too-small',
      `The image is ${width}x${height}; it must be at least ${limits.minSide} pixels on each side.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// EXIF: only the Orientation tag (0x0112) of IFD0 is read.

/** Orientation from a TIFF-structured EXIF block (starting at "II*\0" / "MM\0*"); 1 when absent or invalid. */
export function exifOrientation(tiff: Uint8Array): number {
  if (tiff.length < 8) return 1;
  const le = tiff[0] === 0x49 && tiff[1] === 0x49;
  const be = tiff[0] === 0x4d && tiff[1] === 0x4d;
  if (!le && !be) return 1;
  const r16 = (i: number): number => (le ? u16le(tiff, i) : u16be(tiff, i));
  const r32 = (i: number): number => (le ? u32le(tiff, i) : u32be(tiff, i));
  if (r16(2) !== 42) return 1;
  const ifd = r32(4);
  if (ifd + 2 > tiff.length) return 1;
  const count = r16(ifd);
  for (let n = 0; n < count; n++) {
    const entry = ifd + 2 + n * 12;
    if (entry + 12 > tiff.length) return 1;
    if (r16(entry) === 0x0112) {
      const value = r16(entry + 8); // SHORT, stored left-justified in the value field
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

// ---------------------------------------------------------------------------------------------------------------
// JPEG: walk the marker segments to the SOF for the size (APP1 on the way for EXIF), then on through the
// entropy-coded data to find EOI.

/** SOF0-3, 5-7, 9-11, 13-15 (C4 is DHT, C8 is JPG, CC is DAC). */
function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function readJpeg(b: Uint8Array): ImageHeader {
  let width = 0;
  let height = 0;
  let orientation = 1;
  let sawSof = false;
  let sawEoi = false;
  let i = 2;
  while (i < b.length) {
    if (b[i] !== 0xff) {
      // Between segments there should be nothing but markers; after SOS this is entropy-coded data.
      i++;
      continue;
    }
    // Skip fill bytes.
    while (i < b.length && b[i] === 0xff) i++;
    if (i >= b.length) break;
    const marker = b[i++];
    if (marker === 0x00 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) continue; // stuffed / RSTn / TEM
    if (marker === 0xd9) {
      sawEoi = true;
      break;
    }
    if (marker === 0xd8) continue;
    if (i + 2 > b.length) break;
    const length = u16be(b, i);
    if (length < 2) throw corrupt('jpeg', `a segment has an invalid length of ${length}`);
    const body = i + 2;
    const end = i + length;
    if (isSof(marker) && !sawSof) {
      if (body + 5 > b.length) throw corrupt('jpeg', 'its frame header is cut short');
      height = u16be(b, body + 1);
      width = u16be(b, body + 3);
      sawSof = true;
      if (height === 0) throw corrupt('jpeg', 'its frame header gives a height of 0 (DNL height is not supported)');
    } else if (marker === 0xe1 && orientation === 1 && end <= b.length && ascii(b, body, 6) === 'Exif\0\0') {
      orientation = exifOrientation(b.subarray(body + 6, end));
    } else if (marker === 0xda && !sawSof) {
      throw corrupt('jpeg', 'image data starts before the frame header');
    }
    // After SOS the entropy-coded data follows the header; the loop skips it byte by byte, stopping at the
    // next real marker (0xFF followed by something other than 0x00 or RSTn).
    i = end;
  }
  if (!sawSof) throw corrupt('jpeg', 'it has no frame header (SOF), so its size is unknown');
  return { format: 'jpeg', width, height, orientation, animated: false, truncated: !sawEoi };
}

// ---------------------------------------------------------------------------------------------------------------
// PNG: IHDR for the size, eXIf for orientation, acTL for APNG, IEND for completeness.

function readPng(b: Uint8Array): ImageHeader {
  if (b.length < 33 || ascii(b, 12, 4) !== 'IHDR') throw corrupt('png', 'its IHDR header is missing or cut short');
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  let orientation = 1;
  let animated = false;
  let sawIend = false;
  let i = 8;
  while (i + 8 <= b.length) {
    const length = u32be(b, i);
    const type = ascii(b, i + 4, 4);
    const body = i + 8;
    if (type === 'IEND') {
      sawIend = true;
      break;
    }
    if (type === 'acTL' && body + 8 <= b.length && u32be(b, body) > 1) animated = true;
    if (type === 'eXIf' && body + length <= b.length) orientation = exifOrientation(b.subarray(body, body + length));
    i = body + length + 4; // data + CRC
  }
  return { format: 'png', width, height, orientation, animated, truncated: !sawIend };
}

// ---------------------------------------------------------------------------------------------------------------
// GIF: logical screen size; walk the blocks to count frames and reach the trailer.

function readGif(b: Uint8Array): ImageHeader {
  if (b.length < 13) throw corrupt('gif', 'its screen descriptor is cut short');
  const width = u16le(b, 6);
  const height = u16le(b, 8);
  const flags = b[10];
  let i = 13;
  if (flags & 0x80) i += 3 * (1 << ((flags & 0x07) + 1)); // global colour table
  let frames = 0;
  let sawTrailer = false;
  const skipSubBlocks = (): void => {
    while (i < b.length) {
      const size = b[i];
      i += 1 + size;
      if (size === 0) return;
    }
  };
  while (i < b.length) {
    const block = b[i];
    if (block === 0x3b) {
      sawTrailer = true;
      break;
    } else if (block === 0x21) {
      i += 2; // introducer + label
      skipSubBlocks();
    } else if (block === 0x2c) {
      if (i + 10 > b.length) break;
      const localFlags = b[i + 9];
      i += 10;
      if (localFlags & 0x80) i += 3 * (1 << ((localFlags & 0x07) + 1)); // local colour table
      i += 1; // LZW minimum code size
      skipSubBlocks();
      frames++;
    } else if (frames > 0) {
      // Junk after a frame: decoders stop here and show what they have, so do the same.
      sawTrailer = true;
      break;
    } else {
      throw corrupt('gif', `it has an unknown block 0x${block.toString(16)} before its first frame`);
    }
  }
  if (frames === 0 && !sawTrailer) throw corrupt('gif', 'it ends before its first frame');
  if (frames === 0) throw corrupt('gif', 'it has no frames');
  return { format: 'gif', width, height, orientation: 1, animated: frames > 1, truncated: !sawTrailer };
}

// ---------------------------------------------------------------------------------------------------------------
// WebP: RIFF container; the first chunk is VP8 (lossy), VP8L (lossless) or VP8X (extended: canvas size, flags).

function readWebp(b: Uint8Array): ImageHeader {
  const chunk = ascii(b, 12, 4);
  if (b.length < (chunk === 'VP8L' ? 25 : 30)) throw corrupt('webp', 'its header is cut short');
  const riffEnd = 8 + u32le(b, 4);
  let width: number;
  let height: number;
  let animated = false;
  let orientation = 1;
  if (chunk === 'VP8 ') {
    // frame tag (3 bytes) then start code 9D 01 2A, then 14-bit width and height (2 bits of scale each)
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) throw corrupt('webp', 'its VP8 start code is missing');
    width = u16le(b, 26) & 0x3fff;
    height = u16le(b, 28) & 0x3fff;
  } else if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) throw corrupt('webp', 'its VP8L signature is missing');
    const bits = u32le(b, 21);
    width = (bits & 0x3fff) + 1;
    height = ((bits >>> 14) & 0x3fff) + 1;
  } else if (chunk === 'VP8X') {
    const flags = b[20];
    animated = (flags & 0x02) !== 0;
    width = u24le(b, 24) + 1;
    height = u24le(b, 27) + 1;
    if (flags & 0x08) {
      // EXIF chunk somewhere after VP8X
      let i = 12;
      while (i + 8 <= b.length) {
        const size = u32le(b, i + 4);
        if (ascii(b, i, 4) === 'EXIF') {
          let exif = b.subarray(i + 8, Math.min(i + 8 + size, b.length));
          if (ascii(exif, 0, 6) === 'Exif\0\0') exif = exif.subarray(6); // some writers keep the JPEG prefix
          orientation = exifOrientation(exif);
          break;
        }
        i += 8 + size + (size & 1);
      }
    }
  } else {
    throw corrupt('webp', `its first chunk "${chunk}" is not VP8, VP8L or VP8X`);
  }
  return { format: 'webp', width, height, orientation, animated, truncated: b.length < riffEnd };
}

// ---------------------------------------------------------------------------------------------------------------
// BMP: file header (14 bytes) then a DIB header whose size tells its version.

function readBmp(b: Uint8Array): ImageHeader {
  if (b.length < 26) throw corrupt('bmp', 'its header is cut short');
  const dibSize = u32le(b, 14);
  let width: number;
  let height: number;
  if (dibSize === 12) {
    width = u16le(b, 18);
    height = u16le(b, 20);
  } else if (dibSize >= 40) {
    width = i32le(b, 18);
    height = Math.abs(i32le(b, 22)); // negative height = top-down rows
  } else {
    throw corrupt('bmp', `its DIB header size ${dibSize} is not supported`);
  }
  const fileSize = u32le(b, 2);
  return { format: 'bmp', width, height, orientation: 1, animated: false, truncated: fileSize > 0 && b.length < fileSize };
}

// ---------------------------------------------------------------------------------------------------------------
// AVIF: the size is in the 'ispe' (image spatial extents) property boxes. A grid image has one for the full image
// and one per tile, and a thumbnail has its own, so the largest one is taken: that is what decoding allocates.

function readAvif(b: Uint8Array): ImageHeader {
  let width = 0;
  let height = 0;
  let found = false;
  // ispe: size(4) 'ispe' version+flags(4) width(4) height(4). The meta box sits near the start of the file.
  const end = Math.min(b.length, 1 << 20) - 16;
  for (let i = 4; i <= end; i++) {
    if (b[i] === 0x69 && b[i + 1] === 0x73 && b[i + 2] === 0x70 && b[i + 3] === 0x65 && u32be(b, i - 4) === 20) {
      const w = u32be(b, i + 8);
      const h = u32be(b, i + 12);
      if (!found || w * h > width * height) {
        width = w;
        height = h;
      }
      found = true;
    }
  }
  if (!found) throw corrupt('avif', 'no image size (ispe) was found in its header');
  let animated = false;
  for (let i = 16; i + 4 <= Math.min(u32be(b, 0), b.length); i += 4) if (ascii(b, i, 4) === 'avis') animated = true;
  if (ascii(b, 8, 4) === 'avis') animated = true;
  // Truncation is left to the decoder: the box tree would have to be walked to know the expected length.
  return { format: 'avif', width, height, orientation: 1, animated, truncated: false };
}
