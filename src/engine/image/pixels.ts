/**
 * Small pure pixel helpers on RgbImage (8-bit RGB, row-major). No DOM, no Node API.
 */
import type { RgbImage } from './types.ts';

export interface PixelBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** RGB fill for areas outside the source: one grey level or [r, g, b]. */
export type Fill = number | readonly [number, number, number];

function fillRgb(fill: Fill): [number, number, number] {
  return typeof fill === 'number' ? [fill, fill, fill] : [fill[0], fill[1], fill[2]];
}

function checkImage(image: RgbImage): void {
  if (image.data.length !== image.width * image.height * 3) {
    throw new RangeError(
      `RGB data has ${image.data.length} bytes; ${image.width}x${image.height} needs ${image.width * image.height * 3}.`,
    );
  }
}

/**
 * Copy out a box of the image. The box is rounded to whole pixels (x, y floored; width, height rounded) and may
 * reach outside the image: those parts are filled with `fill` (default black), so a face at the edge still gives
 * a crop of the requested size.
 */
export function cropRgb(image: RgbImage, box: PixelBox, fill: Fill = 0): RgbImage {
  checkImage(image);
  const x0 = Math.floor(box.x);
  const y0 = Math.floor(box.y);
  const width = Math.round(box.width);
  const height = Math.round(box.height);
  if (!(width > 0 && height > 0)) throw new RangeError(`Crop box ${width}x${height} is empty.`);
  const out = new Uint8Array(width * height * 3);
  const [fr, fg, fb] = fillRgb(fill);
  if (fr !== 0 || fg !== 0 || fb !== 0) {
    for (let i = 0; i < out.length; i += 3) {
      out[i] = fr;
      out[i + 1] = fg;
      out[i + 2] = fb;
    }
  }
  // Intersection of the box with the image, in image coordinates.
  const sx0 = Math.max(0, x0);
  const sy0 = Math.max(0, y0);
  const sx1 = Math.min(image.width, x0 + width);
  const sy1 = Math.min(image.height, y0 + height);
  if (sx1 > sx0) {
    for (let sy = sy0; sy < sy1; sy++) {
      const src = (sy * image.width + sx0) * 3;
      const dst = ((sy - y0) * width + (sx0 - x0)) * 3;
      out.set(image.data.subarray(src, src + (sx1 - sx0) * 3), dst);
    }
  }
  return { width, height, data: out };
}

export interface PaddedImage extends RgbImage {
  /** Where the source's top-left pixel landed in the padded image. */
  offsetX: number;
  offsetY: number;
}

/**
 * Place the image on a larger canvas of `width` x `height` filled with `fill`, at the top-left (default) or
 * centred (offsets floored). The offsets come back so coordinates can be mapped to the source.
 */
export function padToSize(
  image: RgbImage,
  width: number,
  height: number,
  options: { fill?: Fill; align?: 'top-left' | 'center' } = {},
): PaddedImage {
  if (width < image.width || height < image.height) {
    throw new RangeError(`Cannot pad ${image.width}x${image.height} to the smaller ${width}x${height}.`);
  }
  const offsetX = options.align === 'center' ? Math.floor((width - image.width) / 2) : 0;
  const offsetY = options.align === 'center' ? Math.floor((height - image.height) / 2) : 0;
  const padded = cropRgb(image, { x: -offsetX, y: -offsetY, width, height }, options.fill ?? 0);
  return { ...padded, offsetX, offsetY };
}

/**
 * Shrink by a whole factor, `factor` x `factor` source pixels averaged into one (edge rows and columns that do not
 * fill a block are dropped). Averaging, unlike sampling, does not alias fine texture into false patterns.
 */
export function shrinkRgb(image: RgbImage, factor: number): RgbImage {
  checkImage(image);
  if (!Number.isInteger(factor) || factor < 1) throw new RangeError(`Shrink factor ${factor} is not a whole number >= 1.`);
  if (factor === 1) return image;
  const width = Math.floor(image.width / factor);
  const height = Math.floor(image.height / factor);
  if (!(width > 0 && height > 0)) throw new RangeError(`${image.width}x${image.height} shrunk by ${factor} is empty.`);
  const out = new Uint8Array(width * height * 3);
  const sums = new Float64Array(width * 3);
  const area = factor * factor;
  for (let y = 0; y < height; y++) {
    sums.fill(0);
    for (let dy = 0; dy < factor; dy++) {
      const row = (y * factor + dy) * image.width * 3;
      for (let x = 0; x < width; x++) {
        let at = row + x * factor * 3;
        for (let dx = 0; dx < factor; dx++, at += 3) {
          sums[x * 3] += image.data[at];
          sums[x * 3 + 1] += image.data[at + 1];
          sums[x * 3 + 2] += image.data[at + 2];
        }
      }
    }
    const to = y * width * 3;
    for (let i = 0; i < width * 3; i++) out[to + i] = Math.round(sums[i] / area);
  }
  return { width, height, data: out };
}

/**
 * Split RGBA (ImageData layout) into RGB and alpha. `alpha` is undefined when every pixel is fully opaque,
 * matching DecodedImage.alpha.
 */
export function rgbFromRgba(data: Uint8Array | Uint8ClampedArray): { rgb: Uint8Array; alpha: Uint8Array | undefined } {
  if (data.length % 4 !== 0) throw new RangeError(`RGBA data length ${data.length} is not a multiple of 4.`);
  const pixels = data.length / 4;
  const rgb = new Uint8Array(pixels * 3);
  const alpha = new Uint8Array(pixels);
  let opaque = true;
  for (let p = 0, s = 0, d = 0; p < pixels; p++, s += 4, d += 3) {
    rgb[d] = data[s];
    rgb[d + 1] = data[s + 1];
    rgb[d + 2] = data[s + 2];
    const a = data[s + 3];
    alpha[p] = a;
    if (a !== 255) opaque = false;
  }
  return { rgb, alpha: opaque ? undefined : alpha };
}

/**
 * Join RGB and an optional alpha (default fully opaque) into RGBA, as a Uint8ClampedArray so it can go straight
 * into `new ImageData(...)`.
 */
export function rgbaFromRgb(rgb: Uint8Array, alpha?: Uint8Array): Uint8ClampedArray {
  if (rgb.length % 3 !== 0) throw new RangeError(`RGB data length ${rgb.length} is not a multiple of 3.`);
  const pixels = rgb.length / 3;
  if (alpha && alpha.length !== pixels) {
    throw new RangeError(`Alpha has ${alpha.length} values for ${pixels} pixels.`);
  }
  const out = new Uint8ClampedArray(pixels * 4);
  for (let p = 0, s = 0, d = 0; p < pixels; p++, s += 3, d += 4) {
    out[d] = rgb[s];
    out[d + 1] = rgb[s + 1];
    out[d + 2] = rgb[s + 2];
    out[d + 3] = alpha ? alpha[p] : 255;
  }
  return out;
}
