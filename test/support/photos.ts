/** Photos for engine tests: face-api's demo photos (shipped in node_modules, may be used) and ../shared/faces. */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeImageNode } from '../../src/engine/image/decode-node.ts';
import type { Box } from '../../src/engine/faces/types.ts';
import { cropRgb } from '../../src/engine/image/pixels.ts';
import type { DecodedImage, RgbImage } from '../../src/engine/image/types.ts';

const require = createRequire(import.meta.url);

/** face-api's demo folder: real photos with several faces each (sample1..6.jpg). */
export const faceApiDemoDir = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');

/** The evaluation fixtures beside the repository (never copied into it). */
export const sharedFacesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'faces');

export async function demoPhoto(name = 'sample1.jpg'): Promise<{ bytes: Uint8Array; image: DecodedImage }> {
  const bytes = new Uint8Array(await readFile(join(faceApiDemoDir, name)));
  return { bytes, image: await decodeImageNode(bytes) };
}

/** The middle 90 % of a face box: the face fills the frame, as in a close-up (the detector's hard case). */
export function tightCrop(image: RgbImage, box: Box): RgbImage {
  return cropRgb(image, {
    x: Math.round(box.x + box.width * 0.05),
    y: Math.round(box.y + box.height * 0.05),
    width: Math.round(box.width * 0.9),
    height: Math.round(box.height * 0.9),
  });
}
