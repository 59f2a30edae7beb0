/**
 * Image quality metrics for comparing a cloaked photo with its original.
 *  - SSIM (Wang et al. 2004) on luma, gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255,
 *    computed over the 'valid' region (every window fully inside the image, as MATLAB's ssim with 'valid'),
 *    mean of the SSIM map.
 *  - PSNR over all three RGB channels, peak 255; Infinity for identical images.
 * Luma is BT.601: Y = 0.299 R + 0.587 G + 0.114 B.
 */
import type { Box } from '../faces/types.ts';
import { cropRgb } from './pixels.ts';
import type { RgbImage } from './types.ts';

export interface GrayImage {
  width: number;
  height: number;
  data: Float32Array;
}

export function luma(image: RgbImage): GrayImage {
  const { width, height, data } = image;
  const out = new Float32Array(width * height);
  for (let p = 0, s = 0; p < out.length; p++, s += 3) out[p] = 0.299 * data[s] + 0.587 * data[s + 1] + 0.114 * data[s + 2];
  return { width, height, data: out };
}

/** Integer pixel rectangle of `box` clamped to the image; null when nothing of it is inside. */
export function clampBox(box: Box, width: number, height: number): { x: number; y: number; width: number; height: number } | null {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(width, Math.ceil(box.x + box.width));
  const y1 = Math.min(height, Math.ceil(box.y + box.height));
  if (x1 <= x0 || y1 <= y0) return null;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Copy of the pixels of `box` clamped to the image (the engine's cropRgb fills outside; quality must not). */
export function cropInside(image: RgbImage, box: Box): RgbImage {
  const r = clampBox(box, image.width, image.height);
  if (!r) throw new RangeError('box lies outside the image');
  return cropRgb(image, r);
}

function sameSize(a: { width: number; height: number }, b: { width: number; height: number }): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new RangeError(`images differ in size: ${a.width}x${a.height} vs ${b.width}x${b.height}`);
  }
}

/** PSNR in dB over every RGB sample; Infinity when the images are identical. */
export function psnr(a: RgbImage, b: RgbImage): number {
  sameSize(a, b);
  let se = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = a.data[i] - b.data[i];
    se += d * d;
  }
  if (se === 0) return Number.POSITIVE_INFINITY;
  const mse = se / a.data.length;
  return 10 * Math.log10((255 * 255) / mse);
}

export const SSIM_WINDOW = 11;
export const SSIM_SIGMA = 1.5;

/** Normalised 1-D gaussian of `size` taps (SSIM's window; cloak.ts builds its differentiable SSIM from it too). */
export function gaussianKernel(size: number, sigma: number): Float64Array {
  const k = new Float64Array(size);
  const c = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) {
    k[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
    s += k[i];
  }
  for (let i = 0; i < size; i++) k[i] /= s;
  return k;
}

/** Separable 'valid' filtering: output (w - n + 1) x (h - n + 1). */
function filterValid(src: Float64Array, w: number, h: number, k: Float64Array): Float64Array {
  const n = k.length;
  const ow = w - n + 1;
  const oh = h - n + 1;
  const tmp = new Float64Array(ow * h);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += k[i] * src[row + x + i];
      tmp[y * ow + x] = s;
    }
  }
  const out = new Float64Array(ow * oh);
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += k[i] * tmp[(y + i) * ow + x];
      out[y * ow + x] = s;
    }
  }
  return out;
}

/**
 * Mean SSIM of two grey images (0..255). Images smaller than the window in either side are compared with a
 * window as large as the smaller side allows (odd, at least 3); NaN when a side is under 3 px.
 */
export function ssimGray(a: GrayImage, b: GrayImage): number {
  sameSize(a, b);
  const { width: w, height: h } = a;
  let size = Math.min(SSIM_WINDOW, w, h);
  if (size % 2 === 0) size -= 1;
  if (size < 3) return Number.NaN;
  const k = gaussianKernel(size, SSIM_SIGMA);
  const n = w * h;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  const xx = new Float64Array(n);
  const yy = new Float64Array(n);
  const xy = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = a.data[i];
    const q = b.data[i];
    x[i] = p;
    y[i] = q;
    xx[i] = p * p;
    yy[i] = q * q;
    xy[i] = p * q;
  }
  const mx = filterValid(x, w, h, k);
  const my = filterValid(y, w, h, k);
  const sxx = filterValid(xx, w, h, k);
  const syy = filterValid(yy, w, h, k);
  const sxy = filterValid(xy, w, h, k);
  const c1 = (0.01 * 255) ** 2;
  const c2 = (0.03 * 255) ** 2;
  let total = 0;
  for (let i = 0; i < mx.length; i++) {
    const ux = mx[i];
    const uy = my[i];
    const vx = sxx[i] - ux * ux;
    const vy = syy[i] - uy * uy;
    const cov = sxy[i] - ux * uy;
    total += ((2 * ux * uy + c1) * (2 * cov + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  }
  return total / mx.length;
}

/** SSIM on the luma of two RGB images. */
export function ssim(a: RgbImage, b: RgbImage): number {
  sameSize(a, b);
  return ssimGray(luma(a), luma(b));
}
