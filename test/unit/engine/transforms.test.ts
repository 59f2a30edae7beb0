// The differentiable transformations the cloak optimises through (expectation over transformations): forward values
// against plain-JS references and a real JPEG codec (sharp), gradients against finite differences, no leaked tensors,
// and a seeded sampler that repeats itself.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { useBackend } from '../../../src/engine/backends/backends.ts';
import type { TransformSampler } from '../../../src/engine/cloak/cloak.ts';
import { createRandom } from '../../../src/engine/cloak/random.ts';
import {
  boxBlur,
  gaussianBlur,
  gaussianWeights,
  jpegApprox,
  medianBlurApprox,
  medianNetwork,
  resizeRoundTrip,
  sampleTransform,
  scaledQuantTable,
  lumaQuantTable,
  shift,
  transformKinds,
  type TransformKind,
} from '../../../src/engine/cloak/transforms.ts';
import { demoPhoto } from '../../support/photos.ts';

before(async () => {
  await useBackend(['wasm']);
});

// ---------------------------------------------------------------------------------------------------------------
// Plain-JS images and references (edge padding = clamped coordinates)

interface Img {
  n: number;
  h: number;
  w: number;
  data: Float64Array; // [n, h, w, 3]
}

function makeImg(n: number, h: number, w: number, f: (b: number, y: number, x: number, c: number) => number): Img {
  const data = new Float64Array(n * h * w * 3);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) data[((b * h + y) * w + x) * 3 + c] = f(b, y, x, c);
  return { n, h, w, data };
}

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));
const at = (img: Img, b: number, y: number, x: number, c: number) =>
  img.data[((b * img.h + clamp(y, 0, img.h - 1)) * img.w + clamp(x, 0, img.w - 1)) * 3 + c];

function mapImg(img: Img, f: (b: number, y: number, x: number, c: number) => number): Img {
  return makeImg(img.n, img.h, img.w, f);
}

/** Separable filter with edge padding: weights along y, then along x. */
function filterRef(img: Img, weights: number[]): Img {
  const r = (weights.length - 1) / 2;
  const rows = mapImg(img, (b, y, x, c) => weights.reduce((s, wt, i) => s + wt * at(img, b, y + i - r, x, c), 0));
  return mapImg(img, (b, y, x, c) => weights.reduce((s, wt, i) => s + wt * at(rows, b, y, x + i - r, c), 0));
}

const medianOfList = (values: number[]) => values.slice().sort((a, b) => a - b)[(values.length - 1) / 2];

/** The approximation medianBlurApprox implements: median along rows (x), then median of those along columns (y). */
function separableMedianRef(img: Img, size: number): Img {
  const r = (size - 1) / 2;
  const window = (f: (i: number) => number) => medianOfList(Array.from({ length: size }, (_, i) => f(i - r)));
  const rows = mapImg(img, (b, y, x, c) => window((d) => at(img, b, y, x + d, c)));
  return mapImg(img, (b, y, x, c) => window((d) => at(rows, b, y + d, x, c)));
}

/** The true 2-D median over a size x size window, edge padded. */
function trueMedianRef(img: Img, size: number): Img {
  const r = (size - 1) / 2;
  return mapImg(img, (b, y, x, c) => {
    const values: number[] = [];
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) values.push(at(img, b, y + dy, x + dx, c));
    return medianOfList(values);
  });
}

/**
 * The linear part of jpegApprox (everything but rounding and clamping), in plain JS: colour conversion, 2x2 chroma
 * averaging on the edge-padded (to multiples of 16) image, linear half-pixel chroma upsampling, back to RGB.
 */
function jpegLinearRef(img: Img): Img {
  const ph = Math.ceil(img.h / 16) * 16;
  const pw = Math.ceil(img.w / 16) * 16;
  const cb = [-0.168735892, -0.331264108, 0.5];
  const cr = [0.5, -0.418687589, -0.081312411];
  const dot = (k: number[], b: number, y: number, x: number) => k.reduce((s, v, c) => s + v * at(img, b, y, x, c), 0);
  const small = (k: number[], b: number, y: number, x: number) =>
    (dot(k, b, 2 * y, 2 * x) + dot(k, b, 2 * y + 1, 2 * x) + dot(k, b, 2 * y, 2 * x + 1) + dot(k, b, 2 * y + 1, 2 * x + 1)) / 4;
  const lerp = (i: number, m: number) => {
    const s = clamp((i + 0.5) / 2 - 0.5, 0, m - 1);
    const f = Math.floor(s);
    return [f, Math.min(f + 1, m - 1), s - f];
  };
  const upsampled = (k: number[], b: number, y: number, x: number) => {
    const [y0, y1, ty] = lerp(y, ph / 2);
    const [x0, x1, tx] = lerp(x, pw / 2);
    return (
      (1 - ty) * ((1 - tx) * small(k, b, y0, x0) + tx * small(k, b, y0, x1)) +
      ty * ((1 - tx) * small(k, b, y1, x0) + tx * small(k, b, y1, x1))
    );
  };
  return mapImg(img, (b, y, x, c) => {
    const luma = dot([0.299, 0.587, 0.114], b, y, x);
    const [u, v] = [upsampled(cb, b, y, x), upsampled(cr, b, y, x)];
    return luma + [1.402 * v, -0.344136286 * u - 0.714136286 * v, 1.772 * u][c];
  });
}

function toTensor(img: Img): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from(img.data), [img.n, img.h, img.w, 3]);
}

function run(f: (x: tf.Tensor4D) => tf.Tensor4D, img: Img): Float32Array {
  return tf.tidy(() => f(toTensor(img)).dataSync() as Float32Array);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Random image, uniform in 0..255 (continuous: no ties). */
function randomImg(seed: number, n: number, h: number, w: number): Img {
  const random = createRandom(seed);
  return makeImg(n, h, w, () => random() * 255);
}

/** A natural-ish image: smooth gradients and blobs, an edge, and some fine texture, 8-bit values. */
function naturalImg(seed: number, h: number, w: number): Img {
  const random = createRandom(seed);
  const blobs = Array.from({ length: 5 }, () => ({ y: random() * h, x: random() * w, s: 8 + random() * 20, a: 40 + random() * 60 }));
  const phase = [random(), random(), random()].map((v) => v * 6);
  return makeImg(1, h, w, (_b, y, x, c) => {
    let v = 60 + 90 * (x / w) + 40 * Math.sin(y / 9 + phase[c]);
    for (const blob of blobs) v += blob.a * Math.exp(-((y - blob.y) ** 2 + (x - blob.x) ** 2) / (2 * blob.s * blob.s)) * (c === 1 ? 0.6 : 1);
    if (x > w * 0.6 && y > h * 0.3) v -= 45; // a sharp edge
    v += 12 * Math.sin(x * 1.3 + y * 0.7) * Math.sin(y * 1.1); // texture
    v += (random() - 0.5) * 10; // noise
    return Math.round(clamp(v, 0, 255));
  });
}

/** One draw of every transform, with parameters that exercise borders on small images. */
const everyTransform: [string, (x: tf.Tensor4D) => tf.Tensor4D][] = [
  ['gaussian 0.7', (x) => gaussianBlur(x, 0.7)],
  ['gaussian 2', (x) => gaussianBlur(x, 2)],
  ['box 3', (x) => boxBlur(x, 3)],
  ['box 9', (x) => boxBlur(x, 9)],
  ['median 3', (x) => medianBlurApprox(x, 3)],
  ['median 9', (x) => medianBlurApprox(x, 9)],
  ['median 5 soft', (x) => medianBlurApprox(x, 5, 0.5)],
  ['jpeg 75', (x) => jpegApprox(x, 75)],
  ['resize 0.4', (x) => resizeRoundTrip(x, 0.4)],
  ['resize 0.7', (x) => resizeRoundTrip(x, 0.7)],
  ['shift 2 -3', (x) => shift(x, 2, -3)],
];

// ---------------------------------------------------------------------------------------------------------------

describe('shapes and constants', () => {
  test('every transform keeps [N, H, W, 3] on odd sizes and N = 2', () => {
    for (const [name, f] of everyTransform) {
      const shape = tf.tidy(() => f(tf.fill([2, 37, 45, 3], 100) as tf.Tensor4D).shape);
      assert.deepEqual(shape, [2, 37, 45, 3], name);
    }
  });

  test('blurs, median, resize and shift of a constant image are that constant, borders included', () => {
    const img = makeImg(1, 12, 17, () => 173.25);
    // (Not JPEG: quantisation moves the DC by up to half a step; not the soft median: smoothing biases it.)
    for (const [name, f] of everyTransform.filter(([name]) => !name.startsWith('jpeg') && !name.includes('soft'))) {
      assert.ok(maxAbsDiff(run(f, img), img.data) < 1e-3, name);
    }
  });

  test('a constant image survives the JPEG approximation within a level (DC quantisation)', () => {
    const img = makeImg(1, 20, 20, () => 173);
    assert.ok(maxAbsDiff(run((x) => jpegApprox(x, 75), img), img.data) < 1.5);
  });
});

describe('linear transforms against JS references', () => {
  test('box blur equals a JS box mean with edge padding (also when the window is larger than the image)', () => {
    for (const [size, h, w] of [[3, 11, 13], [5, 11, 13], [9, 11, 13], [9, 5, 6]] as const) {
      const img = randomImg(size * 100 + h, 1, h, w);
      const reference = filterRef(img, new Array<number>(size).fill(1 / size));
      const error = maxAbsDiff(run((x) => boxBlur(x, size), img), reference.data);
      assert.ok(error < 1e-3, `size ${size} on ${h}x${w}: max error ${error}`);
    }
  });

  test('gaussian blur equals a JS separable gaussian with edge padding; radius is ceil(3 sigma)', () => {
    assert.equal(gaussianWeights(0.5).length, 2 * 2 + 1);
    assert.equal(gaussianWeights(2).length, 2 * 6 + 1);
    for (const sigma of [0.5, 1.3, 2]) {
      const img = randomImg(7, 2, 10, 15);
      const error = maxAbsDiff(run((x) => gaussianBlur(x, sigma), img), filterRef(img, gaussianWeights(sigma)).data);
      assert.ok(error < 1e-3, `sigma ${sigma}: max error ${error}`);
    }
  });

  test('shift moves content by (dx, dy) and replicates the edge', () => {
    const img = randomImg(3, 1, 9, 11);
    for (const [dx, dy] of [[2, -3], [-1, 0], [0, 3], [-3, -2]]) {
      const reference = mapImg(img, (b, y, x, c) => at(img, b, y - dy, x - dx, c));
      assert.ok(maxAbsDiff(run((x) => shift(x, dx, dy), img), reference.data) < 1e-4, `(${dx}, ${dy})`);
    }
  });

  test('resize round trip keeps a linear ramp in place (no half-pixel drift) and averages fine detail away', () => {
    const ramp = makeImg(1, 64, 80, (_b, y, x) => 2 * x + y);
    for (const scale of [0.4, 0.7]) {
      const out = run((x) => resizeRoundTrip(x, scale), ramp);
      const margin = Math.ceil(2 / scale) + 1;
      let worst = 0;
      let signed = 0;
      let count = 0;
      for (let y = margin; y < 64 - margin; y++) {
        for (let x = margin; x < 80 - margin; x++) {
          const error = out[(y * 80 + x) * 3] - ramp.data[(y * 80 + x) * 3];
          worst = Math.max(worst, Math.abs(error));
          signed += error;
          count++;
        }
      }
      // Area-averaging a sampled ramp is not exactly linear (a few hundredths per unit slope); a half-pixel drift
      // would show as a signed error of 0.5 * (2 + 1) = 1.5.
      assert.ok(worst < 0.25, `scale ${scale}: interior error ${worst}`);
      assert.ok(Math.abs(signed / count) < 0.02, `scale ${scale}: mean signed error ${signed / count}`);
    }
    const checker = makeImg(1, 32, 32, (_b, y, x) => ((x + y) % 2 ? 255 : 0));
    const blurred = run((x) => resizeRoundTrip(x, 0.5), checker);
    assert.ok(maxAbsDiff(blurred, new Float32Array(blurred.length).fill(127.5)) < 1, 'a 1-pixel checkerboard averages out at scale 0.5');
  });
});

describe('median approximation', () => {
  test('the selection networks give the median of every 0/1 input (0-1 principle)', () => {
    for (const n of [3, 5, 7, 9, 11]) {
      for (let bits = 0; bits < 1 << n; bits++) {
        const wires: (number | undefined)[] = Array.from({ length: n }, (_, i) => (bits >> i) & 1);
        const expected = medianOfList(wires as number[]);
        for (const { lo, hi, needMin, needMax } of medianNetwork(n)) {
          const [a, b] = [wires[lo] as number, wires[hi] as number];
          wires[lo] = needMin ? Math.min(a, b) : undefined;
          wires[hi] = needMax ? Math.max(a, b) : undefined;
        }
        assert.equal(wires[(n - 1) / 2], expected, `n = ${n}, input ${bits.toString(2)}`);
      }
    }
  });

  test('equals the JS separable median of medians exactly, sizes 3, 5, 7, 9, 11', () => {
    const img = randomImg(11, 1, 14, 17);
    for (const size of [3, 5, 7, 9, 11]) {
      const error = maxAbsDiff(run((x) => medianBlurApprox(x, size), img), separableMedianRef(img, size).data);
      assert.ok(error < 1e-3, `size ${size}: max error ${error}`);
    }
  });

  test('is exact on linear ramps, borders included', () => {
    const ramp = makeImg(1, 15, 19, (_b, y, x, c) => 3 * x - 2 * y + 40 * c + 100);
    for (const size of [3, 5, 9]) assert.ok(maxAbsDiff(run((x) => medianBlurApprox(x, size), ramp), ramp.data) < 1e-4, `size ${size}`);
  });

  test('is close to the true 2-D median for sizes 3 and 5 on natural-ish images and on a photo', async () => {
    const { image } = await demoPhoto('sample1.jpg');
    const [ph, pw, py, px] = [48, 64, Math.floor(image.height / 3), Math.floor(image.width / 3)];
    const photo = makeImg(1, ph, pw, (_b, y, x, c) => image.data[((py + y) * image.width + px + x) * 3 + c]);
    // Measured mean abs difference (levels): synthetic 0.96 (size 3), 0.96 (size 5); photo crop 0.30, 0.55. The
    // filter itself changes the images by 3.1, 4.3 and 0.78, 1.85 levels.
    const bounds: Record<number, number> = { 3: 1.3, 5: 1.3 };
    for (const [label, img] of [['synthetic', naturalImg(5, 48, 64)], ['photo', photo]] as const) {
      for (const size of [3, 5]) {
        const approx = run((x) => medianBlurApprox(x, size), img);
        const truth = trueMedianRef(img, size).data;
        const error = meanAbsDiff(approx, truth);
        const blurEffect = meanAbsDiff(img.data, truth); // how much the median filter itself changes the image
        assert.ok(error < bounds[size], `${label} size ${size}: mean abs difference to the true median ${error.toFixed(3)}`);
        assert.ok(error < blurEffect / 2, `${label} size ${size}: ${error.toFixed(3)} vs the filter's own effect ${blurEffect.toFixed(3)}`);
      }
    }
  });

  test('a small temperature stays close to the hard median and spreads the gradient', () => {
    const img = randomImg(21, 1, 10, 12);
    const hard = run((x) => medianBlurApprox(x, 3), img);
    const soft = run((x) => medianBlurApprox(x, 3, 0.05), img);
    assert.ok(maxAbsDiff(hard, soft) < 0.5, `max difference ${maxAbsDiff(hard, soft)}`);
    const nonZero = (temperature: number) =>
      tf.tidy(() => {
        const g = tf.grad((x: tf.Tensor) => tf.sum(medianBlurApprox(x as tf.Tensor4D, 3, temperature)))(toTensor(img));
        return Array.from(g.dataSync()).filter((v) => Math.abs(v) > 1e-6).length;
      });
    assert.ok(nonZero(20) > nonZero(0), 'temperature 20 reaches more input pixels than the hard median');
  });
});

describe('gradients', () => {
  /** grad of sum(f(x) * weights) at x, and the loss as a float64 function of an input image. */
  function gradientAndLoss(f: (x: tf.Tensor4D) => tf.Tensor4D, img: Img, weights: Float32Array) {
    const w = tf.tensor4d(weights, [img.n, img.h, img.w, 3]);
    const gradient = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x as tf.Tensor4D), w)))(toTensor(img)).dataSync() as Float32Array);
    w.dispose();
    const loss = (input: Img) => {
      const out = run(f, input);
      let s = 0;
      for (let i = 0; i < out.length; i++) s += out[i] * weights[i];
      return s;
    };
    return { gradient, loss };
  }

  function directionalCheck(name: string, f: (x: tf.Tensor4D) => tf.Tensor4D, img: Img, h: number, tolerance: number) {
    const random = createRandom(name.length * 7919);
    const weights = Float32Array.from(img.data, () => random() * 2 - 1);
    const direction = Float64Array.from(img.data, () => random() * 2 - 1);
    const { gradient, loss } = gradientAndLoss(f, img, weights);
    assert.ok(gradient.every(Number.isFinite), `${name}: finite gradient`);
    assert.ok(gradient.some((v) => v !== 0), `${name}: non-zero gradient`);
    const moved = (sign: number) => ({ ...img, data: img.data.map((v, i) => v + sign * h * direction[i]) });
    const numeric = (loss(moved(1)) - loss(moved(-1))) / (2 * h);
    const analytic = gradient.reduce((s, g, i) => s + g * direction[i], 0);
    const relative = Math.abs(analytic - numeric) / Math.max(Math.abs(numeric), 1e-9);
    assert.ok(relative < tolerance, `${name}: analytic ${analytic} vs numeric ${numeric} (relative ${relative})`);
  }

  const small = randomImg(99, 1, 13, 18);
  const linear: [string, (x: tf.Tensor4D) => tf.Tensor4D][] = [
    ['gaussian 0.6', (x) => gaussianBlur(x, 0.6)],
    ['gaussian 2', (x) => gaussianBlur(x, 2)],
    ['box 3', (x) => boxBlur(x, 3)],
    ['box 9', (x) => boxBlur(x, 9)],
    ['resize 0.45', (x) => resizeRoundTrip(x, 0.45)],
    ['resize 0.8', (x) => resizeRoundTrip(x, 0.8)],
    ['shift 3 -2', (x) => shift(x, 3, -2)],
  ];
  for (const [name, f] of linear) {
    test(`${name}: gradient matches the finite-difference directional derivative`, () => directionalCheck(name, f, small, 20, 1e-4));
  }

  test('hard median: gradient matches finite differences on a tie-free image (it is piecewise linear)', () => {
    for (const size of [3, 5, 9]) directionalCheck(`median ${size}`, (x) => medianBlurApprox(x, size), small, 1e-2, 1e-3);
  });

  test('soft median: gradient matches finite differences', () => {
    directionalCheck('median 5 t=2', (x) => medianBlurApprox(x, 5, 2), small, 1e-2, 1e-3);
  });

  test('hard median on ties: each output passes exactly its gradient on (split among tied inputs)', () => {
    const img = makeImg(1, 9, 10, (_b, _y, x) => (x < 5 ? 50 : 200));
    const gradient = Array.from(tf.tidy(() => tf.grad((x: tf.Tensor) => tf.sum(medianBlurApprox(x as tf.Tensor4D, 5)))(toTensor(img)).dataSync()));
    const total = gradient.reduce((s, v) => s + v, 0);
    assert.ok(Math.abs(total - 9 * 10 * 3) < 1e-3, `gradient mass ${total}`);
    assert.ok(gradient.every((v) => v >= 0 && Number.isFinite(v)));
  });

  test('JPEG: the gradient is the adjoint of the linear pipeline (rounding straight-through), finite, everywhere non-zero', () => {
    // Away from clamping, every rounding passes the gradient unchanged, so for any weights w and direction v:
    // <d(sum w * jpeg(x))/dx, v> = <w, Lin(v)>, with Lin the JS reference of the pipeline without rounding.
    const img = makeImg(1, 20, 28, (_b, y, x, c) => 110 + 40 * Math.sin(x / 5 + c) + 30 * Math.cos(y / 4));
    const random = createRandom(5);
    const weights = Float32Array.from(img.data, () => random() * 2 - 1);
    const direction = mapImg(img, () => random() * 2 - 1);
    const linear = jpegLinearRef(direction).data;
    const expected = linear.reduce((s, v, i) => s + v * weights[i], 0);
    for (const quality of [40, 90]) {
      const { gradient } = gradientAndLoss((x) => jpegApprox(x, quality), img, weights);
      assert.ok(gradient.every(Number.isFinite) && gradient.every((v) => v !== 0), `quality ${quality}: finite, non-zero`);
      const analytic = gradient.reduce((s, g, i) => s + g * direction.data[i], 0);
      assert.ok(Math.abs(analytic - expected) < 1e-4 * Math.abs(expected) + 1e-3, `quality ${quality}: ${analytic} vs ${expected}`);
    }
    // The forward at quality 100 is the linear pipeline (offsets cancel) up to six roundings (measured 0.60).
    const out = run((x) => jpegApprox(x, 100), img);
    const lin = jpegLinearRef(img).data;
    assert.ok(meanAbsDiff(out, lin) < 1, `quality 100 vs linear reference: ${meanAbsDiff(out, lin)}`);
  });
});

describe('JPEG approximation against a real codec (sharp, libjpeg-turbo family, 4:2:0)', () => {
  async function sharpRoundTrip(img: Img, quality: number): Promise<Uint8Array> {
    const raw = Buffer.from(Uint8Array.from(img.data));
    const jpeg = await sharp(raw, { raw: { width: img.w, height: img.h, channels: 3 } })
      .jpeg({ quality, chromaSubsampling: '4:2:0' })
      .toBuffer();
    const { data, info } = await sharp(jpeg).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, info.channels], [img.w, img.h, 3]);
    return new Uint8Array(data);
  }

  test('quality scaling follows libjpeg (q 50 = base table, q 75 halves it, q 100 = all ones)', () => {
    assert.deepEqual(scaledQuantTable(lumaQuantTable, 50), lumaQuantTable);
    assert.equal(scaledQuantTable(lumaQuantTable, 75)[0], 8);
    assert.ok(scaledQuantTable(lumaQuantTable, 100).every((v) => v === 1));
    assert.equal(scaledQuantTable(lumaQuantTable, 10)[63], 255);
  });

  test('jpegApprox is close to sharp encode + decode, and much closer than the input is', async () => {
    const { image } = await demoPhoto('sample1.jpg');
    const [ph, pw, py, px] = [100, 140, Math.floor(image.height / 4), Math.floor(image.width / 4)];
    const photo = makeImg(1, ph, pw, (_b, y, x, c) => image.data[((py + y) * image.width + px + x) * 3 + c]);
    // Bounds: measured mean abs difference (8-bit levels, wasm) plus margin; this test prints the numbers.
    // Measured: synthetic 0.40 / 0.46 / 0.54 / 0.49, photo crop 0.83 / 0.36 / 0.38 / 0.20 at q 30 / 50 / 75 / 90.
    const bounds: Record<number, number> = { 30: 1.2, 50: 0.8, 75: 0.8, 90: 0.7 };
    for (const [label, img] of [['synthetic', naturalImg(8, 100, 140)], ['photo', photo]] as const) {
      for (const quality of [30, 50, 75, 90]) {
        const decoded = await sharpRoundTrip(img, quality);
        const approx = run((x) => jpegApprox(x, quality), img);
        const approxError = meanAbsDiff(approx, decoded);
        const inputError = meanAbsDiff(img.data, decoded);
        console.log(`jpeg ${label} q${quality}: |approx - sharp| ${approxError.toFixed(3)}, |input - sharp| ${inputError.toFixed(3)}`);
        assert.ok(approxError < bounds[quality], `${label} q${quality}: ${approxError}`);
        assert.ok(approxError < inputError / 2, `${label} q${quality}: approx ${approxError} vs input ${inputError}`);
      }
    }
  });
});

describe('backends', () => {
  test('cpu computes the same values and gradients as wasm (N = 2, non-square)', async () => {
    const shape: [number, number, number, number] = [2, 19, 30, 3];
    const input = Float32Array.from({ length: 2 * 19 * 30 * 3 }, (_, i) => 20 + 200 * (0.5 + 0.5 * Math.sin(i * 0.37)));
    const weights = Float32Array.from(input, (_, i) => Math.cos(i * 1.3));
    const evaluate = () =>
      everyTransform.map(([, f]) =>
        tf.tidy(() => {
          const x = tf.tensor4d(input, shape);
          const w = tf.tensor4d(weights, shape);
          const gradient = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor4D), w)))(x);
          return [f(x).dataSync(), gradient.dataSync()];
        }),
      );
    const onWasm = evaluate();
    try {
      await useBackend(['cpu']);
      const onCpu = evaluate();
      everyTransform.forEach(([name], i) => {
        assert.ok(maxAbsDiff(onWasm[i][0], onCpu[i][0]) < 1e-3, `${name}: values`);
        assert.ok(maxAbsDiff(onWasm[i][1], onCpu[i][1]) < 1e-4, `${name}: gradient`);
      });
    } finally {
      await useBackend(['wasm']);
    }
  });
});

describe('memory', () => {
  test('no tensor leaks: forward in tf.tidy and tf.grad (result disposed) for every transform and sampled draw', () => {
    const x = tf.randomUniform([1, 21, 26, 3], 0, 255) as tf.Tensor4D;
    const random = createRandom(1);
    const sampled = Array.from({ length: 30 }, () => sampleTransform(random));
    const all: ((t: tf.Tensor4D) => tf.Tensor4D)[] = [...everyTransform.map(([, f]) => f), ...sampled.map((s) => (t: tf.Tensor4D) => s.apply(t))];
    for (const f of all) tf.tidy(() => f(x)).dispose(); // warm-up (kernel set-up)
    const before = tf.memory().numTensors;
    for (const f of all) {
      tf.tidy(() => f(x)).dispose();
      assert.equal(tf.memory().numTensors, before, 'forward leaked');
      const g = tf.grad((t: tf.Tensor) => tf.sum(f(t as tf.Tensor4D)))(x);
      g.dispose();
      assert.equal(tf.memory().numTensors, before, 'gradient leaked');
      f(x).dispose(); // outside any tidy: each transform cleans up after itself
      assert.equal(tf.memory().numTensors, before, 'forward outside tidy leaked');
    }
    x.dispose();
  });
});

describe('sampler', () => {
  const names = (seed: number, count: number, options?: Parameters<typeof sampleTransform>[1]) => {
    const random = createRandom(seed);
    return Array.from({ length: count }, () => sampleTransform(random, options).name);
  };

  test('fits the TransformSampler slot of cloak.ts (checked by tsc)', () => {
    const sampler: TransformSampler = sampleTransform;
    assert.equal(typeof sampler(createRandom(1)).apply, 'function');
  });

  test('the same seed gives the same sequence of transforms and parameters; another seed does not', () => {
    const first = names(42, 60);
    assert.deepEqual(names(42, 60), first);
    assert.notDeepEqual(names(43, 60), first);
    assert.ok(new Set(first).size > 20, 'parameters vary');
  });

  test('draws every kind with default weights, parameters within their ranges', () => {
    const random = createRandom(7);
    const seen = new Set<TransformKind>();
    for (let i = 0; i < 400; i++) {
      const { kind, name } = sampleTransform(random);
      seen.add(kind);
      const numbers = (name.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
      if (kind === 'gaussian') assert.ok(numbers[0] >= 0.5 && numbers[0] <= 2, name);
      if (kind === 'box' || kind === 'median') assert.ok([3, 5, 7, 9].includes(numbers[0]), name);
      if (kind === 'jpeg') assert.ok(Number.isInteger(numbers[0]) && numbers[0] >= 70 && numbers[0] <= 90, name);
      if (kind === 'resize') assert.ok(numbers[0] >= 0.4 && numbers[0] <= 0.9, name);
      if (kind === 'shift') assert.ok(numbers.every((v) => Number.isInteger(v) && Math.abs(v) <= 3), name);
    }
    assert.deepEqual([...seen].sort(), [...transformKinds].sort());
  });

  test('weights select kinds: zero never drawn, a lone kind always drawn; all-zero throws', () => {
    const onlyJpeg = { identity: 0, gaussian: 0, box: 0, median: 0, resize: 0, shift: 0 };
    assert.ok(names(3, 50, { weights: onlyJpeg }).every((name) => name.startsWith('jpeg(')));
    const noMedian = names(3, 300, { weights: { median: 0 } });
    assert.ok(noMedian.every((name) => !name.startsWith('median')));
    const mostlyBox = names(3, 300, { weights: { box: 30 } }).filter((name) => name.startsWith('box')).length;
    assert.ok(mostlyBox > 200, `box drawn ${mostlyBox} / 300 with weight 30 vs 6`);
    assert.throws(() => names(3, 1, { weights: { ...onlyJpeg, jpeg: 0 } }), /every weight is zero/);
  });

  test('a sampled transform applies what its name says', () => {
    const random = createRandom(11);
    const img = randomImg(4, 1, 12, 14);
    for (let i = 0; i < 20; i++) {
      const t = sampleTransform(random);
      const expected = (() => {
        const num = (name: string) => (name.match(/-?\d+(\.\d+)?/g) ?? []).map(Number);
        const [a, b] = num(t.name);
        switch (t.kind) {
          case 'identity': return (x: tf.Tensor4D) => x;
          case 'gaussian': return (x: tf.Tensor4D) => gaussianBlur(x, a);
          case 'box': return (x: tf.Tensor4D) => boxBlur(x, a);
          case 'median': return (x: tf.Tensor4D) => medianBlurApprox(x, a);
          case 'jpeg': return (x: tf.Tensor4D) => jpegApprox(x, a);
          case 'resize': return (x: tf.Tensor4D) => resizeRoundTrip(x, a);
          case 'shift': return (x: tf.Tensor4D) => shift(x, a, b);
        }
      })();
      assert.ok(maxAbsDiff(run((x) => t.apply(x), img), run(expected, img)) === 0, t.name);
    }
  });
});
