/**
 * "Defenses": what a platform or an attacker may do to a posted photo before recognising faces in it. Each takes
 * file bytes and returns file bytes, with sharp (libvips). EXIF orientation is applied first (as a platform would)
 * and no metadata is written. Filters and downscales are written as lossless PNG so that only the filter itself
 * acts on the pixels; the compression defenses write JPEG (sharp defaults: 4:2:0 chroma, no mozjpeg) or WebP.
 * `none` and a downscale of a photo whose long side is already at or under the target return the input bytes
 * unchanged (no re-encode).
 */
import sharp, { type Kernel, type Sharp } from 'sharp';

export interface Defense {
  id: string;
  describe: string;
  apply(file: Uint8Array): Promise<Uint8Array>;
}

function toBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function open(file: Uint8Array): Sharp {
  return sharp(Buffer.from(file.buffer, file.byteOffset, file.byteLength), { failOn: 'truncated' }).autoOrient();
}

const png = (pipeline: Sharp) => pipeline.png({ compressionLevel: 2 });

function boxKernel(k: number): Kernel {
  return { width: k, height: k, kernel: new Array<number>(k * k).fill(1), scale: k * k, offset: 0 };
}

function filterDefense(id: string, describe: string, f: (p: Sharp) => Sharp): Defense {
  return { id, describe, apply: async (file) => toBytes(await png(f(open(file))).toBuffer()) };
}

function downscaleDefense(target: number, kernel: 'linear' | 'lanczos3'): Defense {
  const name = kernel === 'linear' ? 'bilinear' : 'lanczos';
  return {
    id: `down${target}-${name}`,
    describe: `long side downscaled to ${target} px (sharp kernel '${kernel}', no shrink-on-load), PNG; unchanged when already <= ${target} px`,
    async apply(file) {
      const meta = await sharp(Buffer.from(file.buffer, file.byteOffset, file.byteLength)).metadata();
      if (meta.width === undefined || meta.height === undefined) throw new Error('image has no size');
      if (Math.max(meta.width, meta.height) <= target) return file;
      const out = await png(
        open(file).resize({ width: target, height: target, fit: 'inside', kernel, fastShrinkOnLoad: false }),
      ).toBuffer();
      return toBytes(out);
    },
  };
}

export const allDefenses: readonly Defense[] = [
  { id: 'none', describe: 'the file as posted', apply: async (file) => file },
  {
    id: 'jpeg85',
    describe: 'JPEG re-encode q85 (4:2:0)',
    apply: async (file) => toBytes(await open(file).jpeg({ quality: 85 }).toBuffer()),
  },
  {
    id: 'jpeg75',
    describe: 'JPEG re-encode q75 (4:2:0)',
    apply: async (file) => toBytes(await open(file).jpeg({ quality: 75 }).toBuffer()),
  },
  {
    id: 'webp80',
    describe: 'WebP re-encode q80',
    apply: async (file) => toBytes(await open(file).webp({ quality: 80 }).toBuffer()),
  },
  filterDefense('gauss1.5', 'gaussian blur sigma 1.5, PNG', (p) => p.blur(1.5)),
  filterDefense('median5', 'median filter 5x5, PNG', (p) => p.median(5)),
  filterDefense('median9', 'median filter 9x9, PNG', (p) => p.median(9)),
  filterDefense('box5', 'box blur 5x5 (convolve with ones/25), PNG', (p) => p.convolve(boxKernel(5))),
  filterDefense('box9', 'box blur 9x9 (convolve with ones/81), PNG', (p) => p.convolve(boxKernel(9))),
  downscaleDefense(2048, 'linear'),
  downscaleDefense(2048, 'lanczos3'),
  downscaleDefense(1080, 'linear'),
  downscaleDefense(1080, 'lanczos3'),
];

/** 'all' or a comma list of ids; 'none' is always included (first) since every other cell is read against it. */
export function selectDefenses(spec: string): Defense[] {
  if (spec === 'all') return allDefenses.slice();
  const ids = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !allDefenses.some((d) => d.id === id));
  if (unknown.length > 0) {
    throw new Error(`unknown defense(s) ${unknown.join(', ')}; known: ${allDefenses.map((d) => d.id).join(', ')}`);
  }
  return allDefenses.filter((d) => d.id === 'none' || ids.includes(d.id));
}
