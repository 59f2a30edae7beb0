/**
 * The photos the speed benchmark times, made in memory with sharp from fixtures read in place (never written into
 * the repository): one face photo rescaled to several megapixel counts, copies of it tiled side by side for 2 and 4
 * faces, and face-less photos at several sizes (the fixture without a detectable face, plus synthetic scenes).
 * Every photo is handed on as JPEG bytes (quality 95, 4:4:4) so Node and the extension decode the same file.
 */
import sharp, { type Sharp } from 'sharp';
import { createRandom } from '../../src/engine/cloak/random.ts';
import { type Fixtures, readPhoto } from '../lib/fixtures.ts';

export interface SpeedPhoto {
  name: string;
  bytes: Uint8Array;
  width: number;
  height: number;
}

/** A single frontal face, 229 px wide, in a 1024 x 800 film still. */
export const defaultFacePhoto = 'bryce_dallas_howard/11';

const jpeg = (image: Sharp) => image.jpeg({ quality: 95, chromaSubsampling: '4:4:4' });

async function asPhoto(name: string, image: Sharp): Promise<SpeedPhoto> {
  const { data, info } = await jpeg(image).toBuffer({ resolveWithObject: true });
  return { name, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

export async function fixturePhoto(fixtures: Fixtures, id: string): Promise<Uint8Array> {
  const photo = fixtures.photos.find((p) => p.id === id);
  if (!photo) throw new Error(`no fixture photo ${id} in ${fixtures.dir}`);
  return readPhoto(fixtures.dir, photo);
}

/** The photo resized (Lanczos, aspect kept) to about `megapixels` million pixels. */
export async function atMegapixels(name: string, bytes: Uint8Array, megapixels: number): Promise<SpeedPhoto> {
  const { info } = await sharp(bytes).rotate().raw().toBuffer({ resolveWithObject: true });
  const scale = Math.sqrt((megapixels * 1e6) / (info.width * info.height));
  const image = sharp(bytes)
    .rotate()
    .resize(Math.round(info.width * scale), Math.round(info.height * scale), { kernel: 'lanczos3' });
  return asPhoto(`${name} ${megapixels} MP`, image);
}

/** `count` copies of a photo side by side (2: one row; 4: two rows of two), so every face is the same face. */
export async function tiled(name: string, tile: SpeedPhoto, count: number): Promise<SpeedPhoto> {
  const columns = count <= 2 ? count : Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / columns);
  const composite = Array.from({ length: count }, (_, i) => ({
    input: Buffer.from(tile.bytes),
    left: (i % columns) * tile.width,
    top: Math.floor(i / columns) * tile.height,
  }));
  const canvas = sharp({
    create: { width: columns * tile.width, height: rows * tile.height, channels: 3, background: { r: 128, g: 128, b: 128 } },
  }).composite(composite);
  return asPhoto(`${name} x${count}`, sharp(await canvas.png().toBuffer()));
}

/**
 * A face-less synthetic scene: sky gradient, hills, a few shapes and sensor-like noise (no face-like pattern). The
 * noise is seeded: the quick no-face check is unsure about some draws and sends them on to the full detector (~4x
 * the time), so an unseeded scene made the detection-only timings of two runs of the same commit differ by that much.
 */
export async function syntheticScene(megapixels: number, noiseSeed = 1): Promise<SpeedPhoto> {
  const width = Math.round(Math.sqrt(megapixels * 1e6 * 1.5));
  const height = Math.round(width / 1.5);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 300 200">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#4a7fc1"/><stop offset="1" stop-color="#cfe3f5"/></linearGradient></defs>
    <rect width="300" height="200" fill="url(#sky)"/>
    <path d="M0 130 Q60 90 120 125 T240 115 T300 120 V200 H0 Z" fill="#5f7f3a"/>
    <path d="M0 160 Q80 140 160 165 T300 150 V200 H0 Z" fill="#3f5f2a"/>
    <rect x="200" y="95" width="40" height="35" fill="#a0522d"/><polygon points="195,95 220,75 245,95" fill="#7a2e1a"/>
    <circle cx="50" cy="40" r="14" fill="#fff4c2"/>
  </svg>`;
  const scene = await sharp(Buffer.from(svg)).resize(width, height).removeAlpha().raw().toBuffer();
  const random = createRandom(noiseSeed);
  const mixed = Buffer.alloc(scene.length);
  for (let i = 0; i < scene.length; i += 2) {
    // Box-Muller: two gaussian draws (sigma 12) from two uniform ones.
    const radius = 12 * Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    mixed[i] = Math.max(0, Math.min(255, Math.round(scene[i] + radius * Math.cos(angle))));
    if (i + 1 < scene.length) mixed[i + 1] = Math.max(0, Math.min(255, Math.round(scene[i + 1] + radius * Math.sin(angle))));
  }
  return asPhoto(`synthetic scene ${megapixels} MP, noise seed ${noiseSeed}`, sharp(mixed, { raw: { width, height, channels: 3 } }));
}
