// The batch CLI: one bad file does not stop the batch, outputs keep size and format, names never collide, and no
// metadata survives. Face-less photos keep it fast (detection only); the engine's cloaking has its own tests.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { strengthSettings } from '../../../src/engine/cloak/cloak.ts';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'face-cloak-cli-'));
  await mkdir(join(dir, 'a'));
  await mkdir(join(dir, 'b'));
  const scene = sharp({ create: { width: 320, height: 200, channels: 3, background: '#4a8' } });
  // A JPEG carrying EXIF (camera and a GPS-like comment) that must not reach the output.
  await writeFile(
    join(dir, 'a', 'photo.jpg'),
    await scene.clone().jpeg().withExif({ IFD0: { Make: 'TestCam', ImageDescription: 'GPS 48.8584 2.2945' } }).toBuffer(),
  );
  await writeFile(join(dir, 'b', 'photo.jpg'), await scene.clone().jpeg().toBuffer());
  await writeFile(join(dir, 'b', 'clear.png'), await scene.clone().ensureAlpha(0.5).png().toBuffer());
  await writeFile(join(dir, 'b', 'broken.jpg'), Buffer.from('not a jpeg at all'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('cloaks a batch, reports bad files, keeps formats and strips metadata', async () => {
  const out = join(dir, 'out');
  const run = promisify(execFile)('npx', ['tsx', 'src/cli/cloak.ts', join(dir, 'a'), join(dir, 'b'), join(dir, 'missing.jpg'), '--out', out, '--strength', 'low'], {
    cwd: repoRoot,
  });
  const failure = await run.then(
    () => null,
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  assert.ok(failure, 'bad files must make the exit code non-zero');
  assert.equal(failure.code, 1);
  assert.match(failure.stderr, /broken\.jpg: not cloaked \(unsupported-format|corrupt/);
  assert.match(failure.stderr, /missing\.jpg: not cloaked/);
  assert.match(failure.stdout, /photo\.jpg: 0 face\(s\) cloaked/);

  const names = (await readdir(out)).sort();
  assert.deepEqual(names, ['b-photo.jpg', 'clear.png', 'photo.jpg']);
  const jpeg = await sharp(await readFile(join(out, 'photo.jpg'))).metadata();
  assert.equal(jpeg.format, 'jpeg');
  assert.equal(jpeg.width, 320);
  assert.equal(jpeg.height, 200);
  assert.equal(jpeg.exif, undefined, 'EXIF must be stripped');
  const png = await sharp(await readFile(join(out, 'clear.png'))).metadata();
  assert.equal(png.format, 'png');
  assert.equal(png.hasAlpha, true, 'PNG keeps its alpha');
});

test('targeted mode needs a decoy photo with a face and says why it stops', async () => {
  const cli = (args: string[]) =>
    promisify(execFile)('npx', ['tsx', 'src/cli/cloak.ts', join(dir, 'a'), '--out', join(dir, 'targeted'), ...args], { cwd: repoRoot }).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
  const noDecoy = await cli(['--mode', 'targeted']);
  assert.ok(noDecoy);
  assert.match(noDecoy.stderr, /--mode targeted needs --decoy/);
  // The scene has no face: it cannot stand for anyone.
  const faceless = await cli(['--mode', 'targeted', '--decoy', join(dir, 'a', 'photo.jpg')]);
  assert.ok(faceless);
  assert.equal(faceless.code, 2);
  assert.match(faceless.stderr, /photo\.jpg: cannot be the decoy \(The decoy photo has no face/);
  await assert.rejects(readdir(join(dir, 'targeted')), 'nothing is written when the decoy is refused');
});

test('learns a personal mask from photos of one person, cloaks with it, and refuses what it cannot use', async () => {
  const cli = (args: string[]) =>
    promisify(execFile)('npx', ['tsx', 'src/cli/cloak.ts', ...args], { cwd: repoRoot }).then(
      (result) => ({ code: 0, stdout: result.stdout, stderr: result.stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  const maskFile = join(dir, 'me.mask.json');
  const faceless = await cli([join(dir, 'a', 'photo.jpg'), '--learn-mask', maskFile]);
  assert.equal(faceless.code, 2);
  assert.match(faceless.stderr, /no personal mask learned \(Photo 1 has no face/);
  await assert.rejects(readFile(maskFile), 'no mask file is written when learning fails');

  const demo = join(repoRoot, 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample2.jpg');
  const learned = await cli([demo, '--learn-mask', maskFile]);
  assert.equal(learned.code, 0, learned.stderr);
  assert.match(learned.stdout, /personal mask learned from 1 photo\(s\)/);
  const mask = JSON.parse(await readFile(maskFile, 'utf8'));
  assert.deepEqual(mask.ensemble, ['human-faceres', 'human-faceres-deep', 'expo-mobilefacenet']);
  assert.equal(typeof mask.pattern, 'string');

  const used = await cli([join(dir, 'a'), '--out', join(dir, 'masked'), '--mask', maskFile]);
  assert.equal(used.code, 0, used.stderr);
  assert.deepEqual(await readdir(join(dir, 'masked')), ['photo.jpg']);
  // The face the mask was learned from: it fits, so the face starts from it and takes mid's shorter refinement. The
  // photo's two other people it does not fit (the reference pattern moves them further): from noise, mid's full steps.
  const fitted = await cli([demo, '--out', join(dir, 'masked-face'), '--mask', maskFile]);
  assert.equal(fitted.code, 0, fitted.stderr);
  const similarities = 'start similarity -?\\d\\.\\d\\d, reference pattern -?\\d\\.\\d\\d';
  assert.match(fitted.stdout, new RegExp(`from the mask \\(${similarities}\\), ${strengthSettings.mid.maskSteps} steps, ensemble`));
  assert.match(fitted.stdout, new RegExp(`mask did not fit, from noise \\(${similarities}\\), ${strengthSettings.mid.steps} steps, ensemble`));

  await writeFile(join(dir, 'broken.mask.json'), '{"ensemble": ["human-faceres"');
  await writeFile(join(dir, 'other.mask.json'), JSON.stringify({ ...mask, ensemble: ['human-faceres'] }));
  for (const [file, why] of [
    ['broken.mask.json', /JSON/],
    ['other.mask.json', /learned against other recognizers/],
  ] as const) {
    const bad = await cli([join(dir, 'a'), '--out', join(dir, 'bad-mask'), '--mask', join(dir, file)]);
    assert.equal(bad.code, 2);
    assert.ok(bad.stderr.includes(`${file}: cannot be read as a personal mask`), bad.stderr);
    assert.match(bad.stderr, why);
    await assert.rejects(readdir(join(dir, 'bad-mask')), 'nothing is written when the mask is refused');
  }
});
