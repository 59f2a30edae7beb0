/**
 * Test inputs made on the fly with sharp (no image files are committed).
 */
import { crc32 } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';

export type Rgb = [number, number, number];

/** Raw RGB whose every pixel is distinct enough to locate: r follows x, g follows y, b fixed. */
export function gradientRaw(width: number, height: number): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      raw[o] = Math.round((x * 255) / Math.max(1, width - 1));
      raw[o + 1] = Math.round((y * 255) / Math.max(1, height - 1));
      raw[o + 2] = 90;
    }
  }
  return raw;
}

/** Raw RGB in four flat quadrants: top-left, top-right, bottom-left, bottom-right. */
export function quadrantsRaw(width: number, height: number, colours: [Rgb, Rgb, Rgb, Rgb]): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const q = (y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1);
      raw.set(colours[q], (y * width + x) * 3);
    }
  }
  return raw;
}

export const RED: Rgb = [230, 20, 20];
export const GREEN: Rgb = [20, 200, 30];
export const BLUE: Rgb = [20, 30, 220];
export const WHITE: Rgb = [250, 250, 250];

export function fromRaw(raw: Buffer, width: number, height: number, channels: 1 | 2 | 3 | 4 = 3): Sharp {
  return sharp(raw, { raw: { width, height, channels } });
}

/** Noisy image: compresses badly, so cutting the file in half loses real image data. */
export async function noisyJpeg(width = 256, height = 256): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 50 } } })
    .jpeg()
    .toBuffer();
}

export async function noisyPng(width = 256, height = 256): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 50 } } })
    .png()
    .toBuffer();
}

/** Animated GIF whose frame f is flat [f * 100, 50, 255 - f * 100]. */
export async function animatedGif(width: number, height: number, frames: number): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * frames * 4);
  for (let f = 0; f < frames; f++) {
    for (let i = 0; i < width * height; i++) {
      raw.set([f * 100, 50, 255 - f * 100, 255], (f * width * height + i) * 4);
    }
  }
  return sharp(raw, { raw: { width, height: height * frames, channels: 4, pageHeight: height } })
    .gif({ delay: new Array(frames).fill(100) })
    .toBuffer();
}

/** Pixel [r, g, b] at (x, y) of an RGB buffer. */
export function pixelAt(data: Uint8Array, width: number, x: number, y: number): Rgb {
  const o = (y * width + x) * 3;
  return [data[o], data[o + 1], data[o + 2]];
}

/** True when every channel is within `tolerance`. */
export function near(actual: readonly number[], expected: readonly number[], tolerance: number): boolean {
  return actual.length === expected.length && actual.every((v, i) => Math.abs(v - expected[i]) <= tolerance);
}

// --- crafting headers -------------------------------------------------------------------------------------------

/** A PNG chunk with a correct CRC. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Copy of a PNG with the IHDR size replaced (CRC fixed), pixel data untouched: a header that lies. */
export function withPngSize(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

/** Copy of a PNG with a chunk inserted right after IHDR. */
export function withPngChunkAfterIhdr(png: Buffer, chunk: Buffer): Buffer {
  return Buffer.concat([png.subarray(0, 33), chunk, png.subarray(33)]);
}

/** Copy of a baseline JPEG with the SOF0 size replaced. */
export function withJpegSize(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  let i = 2;
  while (i < out.length) {
    const marker = out[i + 1];
    const length = out.readUInt16BE(i + 2);
    if (marker === 0xc0 || marker === 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + length;
  }
  throw new Error('no SOF found');
}

/** Uncompressed 24-bit bottom-up BMP (BITMAPINFOHEADER). */
export function makeBmp(width: number, height: number, rgb: Rgb): Buffer {
  const rowSize = Math.ceil((width * 3) / 4) * 4;
  const out = Buffer.alloc(54 + rowSize * height);
  out.write('BM', 0, 'latin1');
  out.writeUInt32LE(out.length, 2);
  out.writeUInt32LE(54, 10);
  out.writeUInt32LE(40, 14);
  out.writeInt32LE(width, 18);
  out.writeInt32LE(height, 22);
  out.writeUInt16LE(1, 26);
  out.writeUInt16LE(24, 28);
  out.writeUInt32LE(rowSize * height, 34);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.set([rgb[2], rgb[1], rgb[0]], 54 + y * rowSize + x * 3);
  }
  return out;
}
