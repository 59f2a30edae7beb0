/**
 * The browser side of the speed benchmark: the built extension (dist/chromium) in headless Chromium, where
 * engine-lab's `timeCloak` runs the shipped cloak engine on webgpu, webgl, wasm or cpu (SwiftShader stands in for a
 * GPU here: reported, not tuned for).
 */
import type { Page } from 'playwright-core';
import type { CloakTiming, StrengthName } from './cloak-timing.ts';
import type { SpeedPhoto } from './photos.ts';

export interface BrowserSession {
  timeCloak(
    backend: string,
    photo: SpeedPhoto,
    options: { strength: StrengthName; seed?: number; maxSteps?: number; warmUp?: boolean },
  ): Promise<CloakTiming & { backend: string }>;
  release(): Promise<void>;
  close(): Promise<void>;
}

export async function openBrowserSession(): Promise<BrowserSession> {
  const { launchExtension, openEngineLab, runInEngineLab } = await import('../../test/browser/harness.ts');
  const harness = await launchExtension();
  let lab: Page;
  try {
    lab = await openEngineLab(harness);
    const current = await lab.evaluate(() => typeof window.engineLab?.timeCloak === 'function');
    if (!current) throw new Error('dist/chromium predates engineLab.timeCloak: run `node build.mjs chromium` first');
  } catch (error) {
    await harness.close();
    throw error;
  }
  return {
    timeCloak: (backend, photo, options) =>
      runInEngineLab(lab, 'timeCloak', [backend, Buffer.from(photo.bytes).toString('base64'), options]),
    release: () => runInEngineLab(lab, 'releaseCloakEngine', []),
    close: () => harness.close(),
  };
}
