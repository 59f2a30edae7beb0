/**
 * Differentiable face alignment: warps faces out of a full-resolution photo onto a recognizer's crop with a 5-point
 * similarity transform, using only ops that have gradients on every backend we ship (slice, avgPool, gather; tfjs
 * has no gradient for cropAndResize or image.transform). The attack optimises the photo's pixels through this, so
 * a cloak lives in the photo and survives re-detection.
 */
import * as tf from '@tensorflow/tfjs';
import type { Point } from '../faces/types.ts';

/** InsightFace's ArcFace 112x112 template: left eye, right eye, nose tip, left and right mouth corners. */
export const arcfaceTemplate112: readonly Point[] = [
  { x: 38.2946, y: 51.6963 },
  { x: 73.5318, y: 51.5014 },
  { x: 56.0252, y: 71.7366 },
  { x: 41.5493, y: 92.3655 },
  { x: 70.7299, y: 92.2041 },
];

const mean = (points: readonly Point[]): Point => ({
  x: points.reduce((s, p) => s + p.x, 0) / points.length,
  y: points.reduce((s, p) => s + p.y, 0) / points.length,
});

/** Five alignment points from face-api's 68: eye centres (36-41, 42-47), nose tip (30), mouth corners (48, 54). */
export function fivePointsFrom68(landmarks: readonly Point[]): Point[] {
  if (landmarks.length !== 68) throw new Error(`expected 68 landmarks, got ${landmarks.length}`);
  return [mean(landmarks.slice(36, 42)), mean(landmarks.slice(42, 48)), landmarks[30], landmarks[48], landmarks[54]];
}

/** The 5-point template for a square crop of `size` px; cropScale > 1 zooms in (a tighter crop). */
export function templateFor(size: number, cropScale = 1): Point[] {
  const k = (size / 112) * cropScale;
  return arcfaceTemplate112.map((p) => ({ x: size / 2 + (p.x - 56) * k, y: size / 2 + (p.y - 56) * k }));
}

/** x' = a x - b y + tx, y' = b x + a y + ty: rotation + uniform scale + shift. */
export interface Similarity {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

/** Least-squares similarity mapping `from` onto `to` (Umeyama, no reflection). */
export function estimateSimilarity(from: readonly Point[], to: readonly Point[]): Similarity {
  const pf = mean(from);
  const pt = mean(to);
  let dot = 0;
  let cross = 0;
  let norm = 0;
  for (let i = 0; i < from.length; i++) {
    const fx = from[i].x - pf.x;
    const fy = from[i].y - pf.y;
    const tx = to[i].x - pt.x;
    const ty = to[i].y - pt.y;
    dot += fx * tx + fy * ty;
    cross += fx * ty - fy * tx;
    norm += fx * fx + fy * fy;
  }
  if (norm === 0) throw new Error('degenerate landmarks: all points coincide');
  const a = dot / norm;
  const b = cross / norm;
  return { a, b, tx: pt.x - (a * pf.x - b * pf.y), ty: pt.y - (b * pf.x + a * pf.y) };
}

export function applySimilarity(m: Similarity, p: Point): Point {
  return { x: m.a * p.x - m.b * p.y + m.tx, y: m.b * p.x + m.a * p.y + m.ty };
}

export function invertSimilarity(m: Similarity): Similarity {
  const det = m.a * m.a + m.b * m.b;
  const a = m.a / det;
  const b = -m.b / det;
  return { a, b, tx: -(a * m.tx - b * m.ty), ty: -(b * m.tx + a * m.ty) };
}

/** How a face is placed on a crop: the photo -> crop transform and the crop size. */
export interface FaceAlignment {
  size: number;
  photoToCrop: Similarity;
}

export function alignmentFor(landmarks68: readonly Point[], size: number, cropScale = 1): FaceAlignment {
  return { size, photoToCrop: estimateSimilarity(fivePointsFrom68(landmarks68), templateFor(size, cropScale)) };
}

/**
 * Warps one face: `photo` [H, W, 3] float -> [size, size, 3], bilinear, border pixels repeated outside the photo.
 * When the face is more than twice the crop's size, the covered region is box-filtered first (avgPool by an integer
 * factor) so the crop does not alias; all of it is differentiable with respect to `photo`. Synchronous: call inside
 * tf.tidy.
 */
export function warpFace(photo: tf.Tensor3D, alignment: FaceAlignment): tf.Tensor3D {
  const [height, width] = photo.shape;
  const { size } = alignment;
  const cropToPhoto = invertSimilarity(alignment.photoToCrop);
  const sourcePerCropPixel = Math.hypot(cropToPhoto.a, cropToPhoto.b);

  // Photo coordinates of every crop pixel, and the region they cover.
  const xs = new Float32Array(size * size);
  const ys = new Float32Array(size * size);
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let v = 0; v < size; v++) {
    for (let u = 0; u < size; u++) {
      const p = applySimilarity(cropToPhoto, { x: u, y: v });
      const i = v * size + u;
      xs[i] = p.x;
      ys[i] = p.y;
      if (p.x < minX) minX = p.x;
      if (p.x > maxX) maxX = p.x;
      if (p.y < minY) minY = p.y;
      if (p.y > maxY) maxY = p.y;
    }
  }
  const pool = Math.max(1, Math.floor(sourcePerCropPixel / 1.5));
  const clampInt = (value: number, hi: number) => Math.min(hi, Math.max(0, value));
  // Region in whole pooling cells, so pooled cells line up with the photo grid; one cell of margin for bilinear.
  const x0 = clampInt(Math.floor(minX / pool - 1) * pool, width - 1);
  const y0 = clampInt(Math.floor(minY / pool - 1) * pool, height - 1);
  const x1 = clampInt(Math.ceil(maxX / pool + 2) * pool, width);
  const y1 = clampInt(Math.ceil(maxY / pool + 2) * pool, height);
  let region = tf.slice(photo, [y0, x0, 0], [Math.max(1, y1 - y0), Math.max(1, x1 - x0), 3]);
  // Pooled cell j covers photo [x0 + j*pool, x0 + (j+1)*pool); a region smaller than one cell is left unpooled.
  const regionPool = pool > 1 && region.shape[0] >= pool && region.shape[1] >= pool ? pool : 1;
  if (regionPool > 1) region = tf.avgPool(region, regionPool, regionPool, 'valid');
  const [rh, rw] = region.shape;

  // Bilinear taps: 4 indices and weights per crop pixel into the flattened region.
  const taps = size * size * 4;
  const indices = new Int32Array(taps);
  const weights = new Float32Array(taps);
  for (let i = 0; i < size * size; i++) {
    // Cell j's centre is at photo x0 + j*regionPool + (regionPool-1)/2.
    const rx = (xs[i] - x0 - (regionPool - 1) / 2) / regionPool;
    const ry = (ys[i] - y0 - (regionPool - 1) / 2) / regionPool;
    const fx = Math.floor(rx);
    const fy = Math.floor(ry);
    const wx = rx - fx;
    const wy = ry - fy;
    const cx0 = clampInt(fx, rw - 1);
    const cx1 = clampInt(fx + 1, rw - 1);
    const cy0 = clampInt(fy, rh - 1);
    const cy1 = clampInt(fy + 1, rh - 1);
    const o = i * 4;
    indices[o] = cy0 * rw + cx0;
    indices[o + 1] = cy0 * rw + cx1;
    indices[o + 2] = cy1 * rw + cx0;
    indices[o + 3] = cy1 * rw + cx1;
    weights[o] = (1 - wx) * (1 - wy);
    weights[o + 1] = wx * (1 - wy);
    weights[o + 2] = (1 - wx) * wy;
    weights[o + 3] = wx * wy;
  }
  return tf.reshape(bilinearSample(region, indices, weights, rh * rw), [size, size, 3]);
}

/**
 * Samples `source` [H, W, 3] bilinearly at the points (xs[t], ys[t]) (pixel centres at integers): [points, 3], 0 where
 * a point falls outside the source. Differentiable with respect to `source`; synchronous: call inside tf.tidy.
 */
export function sampleOrZero(source: tf.Tensor3D, xs: Float32Array, ys: Float32Array): tf.Tensor2D {
  const [height, width] = source.shape;
  const indices = new Int32Array(xs.length * 4);
  const weights = new Float32Array(xs.length * 4);
  for (let t = 0; t < xs.length; t++) {
    const fx = Math.floor(xs[t]);
    const fy = Math.floor(ys[t]);
    const wx = xs[t] - fx;
    const wy = ys[t] - fy;
    const corners = [
      [fx, fy, (1 - wx) * (1 - wy)],
      [fx + 1, fy, wx * (1 - wy)],
      [fx, fy + 1, (1 - wx) * wy],
      [fx + 1, fy + 1, wx * wy],
    ];
    corners.forEach(([x, y, w], k) => {
      if (x >= 0 && x < width && y >= 0 && y < height) {
        indices[t * 4 + k] = y * width + x;
        weights[t * 4 + k] = w;
      }
    });
  }
  return bilinearSample(source, indices, weights, height * width);
}

/**
 * out[t] = sum_k weights[4t+k] * region[indices[4t+k]] for every crop pixel t, with a hand-written gradient.
 *
 * The automatic gradient of `gather` is UnsortedSegmentSum, which tfjs's cpu and webgl backends compute by comparing
 * every segment with every index: O(region pixels x taps), minutes and gigabytes for one face. Because the sampling
 * grid is fixed, its transpose can be built here once: for every region pixel, the (tap, weight) pairs that read
 * it. The gradient is then K gathers of the incoming gradient (K = most taps reading one pixel, small), cheap and
 * exact on every backend. On wasm and cpu both directions are plain loops instead (see below).
 */
function bilinearSample(region: tf.Tensor3D, indices: Int32Array, weights: Float32Array, regionPixels: number): tf.Tensor2D {
  const crops = indices.length / 4;
  // On the backends whose memory is the CPU's (wasm, cpu) the sampling is a plain loop over the taps: tfjs-wasm's
  // GatherV2 took ~1.9 s for one 224-px crop's gradient (measured on a 273-px region), the loop takes milliseconds.
  // GPU backends keep the gather form, where reading the data back would cost more than the gather.
  if (['wasm', 'cpu'].includes(tf.getBackend())) {
    const sampleOnCpu = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const source = (args[0] as tf.Tensor).dataSync();
      const out = new Float32Array(crops * 3);
      for (let t = 0; t < crops; t++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let k = t * 4; k < t * 4 + 4; k++) {
          const w = weights[k];
          const at = indices[k] * 3;
          r += w * source[at];
          g += w * source[at + 1];
          b += w * source[at + 2];
        }
        out[t * 3] = r;
        out[t * 3 + 1] = g;
        out[t * 3 + 2] = b;
      }
      const gradFunc = (dy: tf.Tensor) => {
        const incoming = dy.dataSync();
        const grad = new Float32Array(regionPixels * 3);
        for (let k = 0; k < indices.length; k++) {
          const w = weights[k];
          if (w === 0) continue;
          const from = (k >> 2) * 3;
          const at = indices[k] * 3;
          grad[at] += w * incoming[from];
          grad[at + 1] += w * incoming[from + 1];
          grad[at + 2] += w * incoming[from + 2];
        }
        return tf.tensor2d(grad, [regionPixels, 3]);
      };
      return { value: tf.tensor2d(out, [crops, 3]), gradFunc };
    });
    return sampleOnCpu(tf.reshape(region, [regionPixels, 3])) as tf.Tensor2D;
  }

  const counts = new Int32Array(regionPixels);
  for (let i = 0; i < indices.length; i++) if (weights[i] !== 0) counts[indices[i]]++;
  let depth = 0;
  for (let r = 0; r < regionPixels; r++) depth = Math.max(depth, counts[r]);
  depth = Math.max(depth, 1);
  // Slot k of pixel r: which crop pixel reads it and with what weight; unused slots read row `crops`, a zero row.
  const readers = new Int32Array(depth * regionPixels).fill(crops);
  const readerWeights = new Float32Array(depth * regionPixels);
  counts.fill(0);
  for (let i = 0; i < indices.length; i++) {
    if (weights[i] === 0) continue;
    const r = indices[i];
    const slot = counts[r]++;
    readers[slot * regionPixels + r] = i >> 2;
    readerWeights[slot * regionPixels + r] = weights[i];
  }

  const sample = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const flat = args[0] as tf.Tensor;
    const value = tf.tidy(() => {
      const gathered = tf.gather(flat, tf.tensor1d(indices, 'int32')); // [crops * 4, 3]
      return tf.sum(tf.mul(tf.reshape(gathered, [crops, 4, 3]), tf.tensor3d(weights, [crops, 4, 1])), 1); // [crops, 3]
    });
    const gradFunc = (dy: tf.Tensor) =>
      tf.tidy(() => {
        const padded = tf.concat([dy, tf.zeros([1, 3])], 0); // [crops + 1, 3]
        const spread = tf.gather(padded, tf.tensor1d(readers, 'int32')); // [depth * regionPixels, 3]
        const weighted = tf.mul(tf.reshape(spread, [depth, regionPixels, 3]), tf.tensor3d(readerWeights, [depth, regionPixels, 1]));
        return tf.sum(weighted, 0); // [regionPixels, 3]
      });
    return { value, gradFunc };
  });
  return sample(tf.reshape(region, [regionPixels, 3])) as tf.Tensor2D;
}

/** Warps several faces of one photo onto `size` crops: [N, size, size, 3]. Synchronous: call inside tf.tidy. */
export function warpFaces(photo: tf.Tensor3D, alignments: readonly FaceAlignment[]): tf.Tensor4D {
  return tf.stack(alignments.map((alignment) => warpFace(photo, alignment))) as tf.Tensor4D;
}
