/**
 * How long one `engine.cloak(...)` takes, split into detection, per-face setup and per-step time, through the
 * engine's public API only (progress callback timestamps and the abort signal), so the same code measures Node and
 * the extension page (src/lab/engine-lab.ts imports this file). No Node or extension API in here.
 *
 * A full run cloaks the photo as the product does. A reduced run (for backends where one gradient takes seconds:
 * cpu, SwiftShader webgl/webgpu) stops the first face after `maxSteps` steps through the abort signal and
 * extrapolates with `extrapolateFaceMs` from the setup time and the median step time (steps 2..maxSteps: step 1 also
 * compiles shaders on GPU backends). Setup is what a call aborted before its first step costs beyond detection;
 * reduced runs time detection on its own with the engine's detector.
 */
import type { CloakEngine } from '../../src/engine/cloak/engine.ts';
import type { PersonalMask } from '../../src/engine/cloak/personal-mask-format.ts';
import type { RgbImage } from '../../src/engine/image/types.ts';

export type StrengthName = 'low' | 'mid' | 'high';

export interface TimeCloakOptions {
  strength: StrengthName;
  seed?: number;
  /** Start every face from this personal mask (the engine then refines for the strength's `maskSteps`). */
  personalMask?: PersonalMask;
  /** Reduced run: stop after this many steps of the first face (>= 2) and extrapolate. Absent: full run. */
  maxSteps?: number;
  /**
   * Detection alone on the same backend (the engine's detector), used by reduced runs to split detection from the
   * per-face setup. Full runs read detection time from the engine's own timings.
   */
  detect?: (image: RgbImage) => Promise<readonly { box: { width: number } }[]>;
}

export interface FaceTiming {
  /** Cloak time of this face (ms): measured in a full run, setup + steps x stepMs in a reduced one. */
  cloakMs: number;
  /** Steps the strength asks for (from the progress callback). */
  steps: number;
  /** Steps that ran before the face finished or the reduced run stopped. */
  stepsRun: number;
  /**
   * Per-face work before the first step: alignment, clean embeddings, masks (ms): what a call aborted before its
   * first step costs beyond detection (the first face's, used for every face).
   */
  setupMs: number;
  /** The first step (ms), reduced runs only: on GPU backends it includes compiling the backward shaders. */
  firstStepMs?: number;
  /** Median time between consecutive steps' progress reports (ms): a step without scoring. */
  stepMs: number;
  /** `extrapolateFaceMs(setupMs, stepMs, steps)`: the reduced runs' model, beside the measured time in full runs. */
  extrapolatedMs: number;
}

export interface CloakTiming {
  width: number;
  height: number;
  megapixels: number;
  /** Faces cloaked (after the engine's small-face filter) and faces skipped as too small. */
  faces: number;
  skippedSmallFaces: number;
  /** Width of each cloaked face's detector box (px): the cloak's work grows with the face region, not the photo. */
  faceWidths: number[];
  /** 'reduced' numbers are extrapolated from the first face's first `maxSteps` steps. */
  run: 'full' | 'reduced';
  detectMs: number;
  perFace: FaceTiming[];
  /** Detection plus every face (ms): measured in a full run, extrapolated in a reduced one. */
  totalMs: number;
}

interface ProgressMark {
  face: number;
  faces: number;
  step: number;
  steps: number;
  /** ms since the call started. */
  at: number;
}

/** The abort reason this module uses to stop a reduced run; anything else thrown is a real failure. */
const stopReason = new Error('speed benchmark: reduced run stopped on purpose');

/**
 * One `engine.cloak` call: `stopAfterSteps` 0 aborts before the first step (detection and setup only), n stops
 * after n steps in all; absent runs to the end. `outcome` is undefined when the run was stopped.
 */
export async function runCloak(engine: CloakEngine, image: RgbImage, options: TimeCloakOptions, stopAfterSteps?: number) {
  const controller = new AbortController();
  if (stopAfterSteps === 0) controller.abort(stopReason);
  const marks: ProgressMark[] = [];
  const started = performance.now();
  try {
    const outcome = await engine.cloak(image, {
      strength: options.strength,
      seed: options.seed ?? 1,
      personalMask: options.personalMask,
      signal: controller.signal,
      onProgress: (p) => {
        marks.push({ ...p, at: performance.now() - started });
        if (stopAfterSteps !== undefined && marks.length >= stopAfterSteps) controller.abort(stopReason);
      },
    });
    return { outcome, marks, elapsedMs: performance.now() - started };
  } catch (error) {
    if (!controller.signal.aborted || (error !== stopReason && (error as Error)?.name !== 'AbortError')) throw error;
    return { outcome: undefined, marks, elapsedMs: performance.now() - started };
  }
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Step durations of one face from its progress marks; `faceStartAt` is when its setup began (ms). */
function faceSteps(marks: readonly ProgressMark[], faceStartAt: number) {
  const times = marks.map((m) => m.at);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  const stepMs = gaps.length > 0 ? median(gaps) : Number.NaN;
  const untilFirst = times.length > 0 ? times[0] - faceStartAt : Number.NaN;
  return { stepMs, untilFirst, stepsRun: marks.length, steps: marks[0]?.steps ?? 0 };
}

/**
 * An untimed run so shader compilation and wasm start-up are not timed: `steps` 1 (default) compiles the backward
 * pass too; 0 only detection and setup (enough before a reduced run, which leaves step 1 out of its step time).
 */
export async function warmUpCloak(engine: CloakEngine, image: RgbImage, options: TimeCloakOptions, steps = 1): Promise<void> {
  await runCloak(engine, image, options, steps);
}

/**
 * The time of one face from its parts, as a reduced run must estimate it: setup, every step, and the forward passes
 * the engine adds (src/engine/cloak/cloak.ts, 2026-11: it scores the last quarter of steps with a forward pass of
 * every member and scores the written pixels once more at the end). Each of those costs about what setup costs,
 * since setup embeds the clean face with every member. Full runs report this beside the measured time, which checks
 * the model on the backends where both exist.
 */
export function extrapolateFaceMs(setupMs: number, stepMs: number, steps: number): number {
  const scoredSteps = Math.max(1, Math.ceil(steps / 4));
  return setupMs * (1 + scoredSteps + 1) + steps * stepMs;
}

export async function timeCloak(engine: CloakEngine, image: RgbImage, options: TimeCloakOptions): Promise<CloakTiming> {
  const base = { width: image.width, height: image.height, megapixels: (image.width * image.height) / 1e6 };
  // Detection plus the first face's setup (the engine checks the signal before each step); with no face to cloak
  // the call returns after detection.
  const beforeFirstStep = await runCloak(engine, image, options, 0);
  if (beforeFirstStep.outcome) {
    const { timings, faces, skippedSmallFaces } = beforeFirstStep.outcome;
    return {
      ...base,
      faces: faces.length,
      skippedSmallFaces: skippedSmallFaces.length,
      faceWidths: [],
      run: 'full',
      detectMs: timings.detectMs,
      perFace: [],
      totalMs: timings.totalMs,
    };
  }

  if (options.maxSteps === undefined) {
    const { outcome, marks } = await runCloak(engine, image, options);
    if (!outcome) throw new Error('a full cloak run stopped early');
    const { detectMs, cloakMs, totalMs } = outcome.timings;
    const setupMs = Math.max(0, beforeFirstStep.elapsedMs - detectMs);
    const perFace = cloakMs.map((ms, face) => {
      const s = faceSteps(
        marks.filter((m) => m.face === face),
        0,
      );
      return { cloakMs: ms, steps: s.steps, stepsRun: s.stepsRun, setupMs, stepMs: s.stepMs, extrapolatedMs: extrapolateFaceMs(setupMs, s.stepMs, s.steps) };
    });
    return {
      ...base,
      faces: outcome.faces.length,
      skippedSmallFaces: outcome.skippedSmallFaces.length,
      faceWidths: outcome.faces.map((f) => f.box.width),
      run: 'full',
      detectMs,
      perFace,
      totalMs,
    };
  }

  if (options.maxSteps < 2) throw new Error('a reduced run needs at least 2 steps (step 1 includes shader compilation)');
  if (!options.detect) throw new Error('a reduced run needs a detect function to split detection from setup');
  const detectStarted = performance.now();
  const found = await options.detect(image);
  const detectMs = performance.now() - detectStarted;
  const setupMs = Math.max(0, beforeFirstStep.elapsedMs - detectMs);
  const partial = await runCloak(engine, image, options, options.maxSteps);
  const firstFace = partial.marks.filter((m) => m.face === 0);
  const s = faceSteps(firstFace, 0);
  const firstStepMs = s.untilFirst - beforeFirstStep.elapsedMs;
  const faces = partial.outcome?.faces.length ?? firstFace[0]?.faces ?? 0;
  const cloakMs = extrapolateFaceMs(setupMs, s.stepMs, s.steps);
  const face: FaceTiming = { cloakMs, steps: s.steps, stepsRun: s.stepsRun, setupMs, firstStepMs, stepMs: s.stepMs, extrapolatedMs: cloakMs };
  return {
    ...base,
    faces,
    skippedSmallFaces: partial.outcome?.skippedSmallFaces.length ?? 0,
    // The detector's faces, largest first, as many as the engine cloaks (it skips the small ones).
    faceWidths: found.slice(0, faces).map((f) => f.box.width),
    run: 'reduced',
    detectMs,
    // Every face costs about the same (work per face region): the first face stands for all.
    perFace: Array.from({ length: faces }, () => face),
    totalMs: detectMs + faces * face.cloakMs,
  };
}
