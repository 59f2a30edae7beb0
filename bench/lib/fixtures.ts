/**
 * The face fixtures in ../shared/faces (see its README.md): read in place, never copied into the repository.
 * FACES_DIR overrides the location.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface FixturePhoto {
  /** `<identity>/<nn>`, unique across sets. */
  id: string;
  set: string;
  identity: string;
  /** Path relative to the fixtures folder. */
  file: string;
  width: number;
  height: number;
  bytes: number;
  sha256: string;
}

export interface Fixtures {
  dir: string;
  photos: FixturePhoto[];
  generatedUtc: string;
  manifestSha256: string;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function defaultFacesDir(): string {
  return process.env.FACES_DIR ?? resolve(repoRoot, '..', 'shared', 'faces');
}

interface ManifestJson {
  generated_utc: string;
  images: { set: string; identity: string; file: string; width: number; height: number; bytes: number; sha256: string }[];
}

export async function loadFixtures(dir = defaultFacesDir()): Promise<Fixtures> {
  let text: Buffer;
  try {
    text = await readFile(join(dir, 'manifest.json'));
  } catch (error) {
    throw new Error(`no face fixtures at ${dir} (set FACES_DIR or --faces): ${(error as Error).message}`);
  }
  const manifest = JSON.parse(text.toString('utf8')) as ManifestJson;
  const photos = manifest.images.map((img) => ({
    id: `${img.identity}/${img.file.split('/').pop()!.replace(/\.[^.]+$/, '')}`,
    set: img.set,
    identity: img.identity,
    file: img.file,
    width: img.width,
    height: img.height,
    bytes: img.bytes,
    sha256: img.sha256,
  }));
  photos.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return {
    dir,
    photos,
    generatedUtc: manifest.generated_utc,
    manifestSha256: createHash('sha256').update(text).digest('hex'),
  };
}

/** Reads a photo's bytes and checks them against the manifest's sha256. */
export async function readPhoto(dir: string, photo: FixturePhoto): Promise<Uint8Array> {
  const bytes = await readFile(join(dir, photo.file));
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== photo.sha256) throw new Error(`${photo.file}: sha256 ${sha} does not match the manifest`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Keeps the photos of the named identities (or whole sets: 'celeb5', 'jurassic'), then at most `limit` per
 * identity (the first by id).
 */
export function selectPhotos(photos: readonly FixturePhoto[], identities?: readonly string[], limit?: number): FixturePhoto[] {
  let out = photos.slice();
  if (identities && identities.length > 0) {
    const known = new Set(photos.flatMap((p) => [p.identity, p.set]));
    const unknown = identities.filter((i) => !known.has(i));
    if (unknown.length > 0) throw new Error(`unknown identity or set: ${unknown.join(', ')}`);
    out = out.filter((p) => identities.includes(p.identity) || identities.includes(p.set));
  }
  if (limit !== undefined) {
    const count = new Map<string, number>();
    out = out.filter((p) => {
      const n = (count.get(p.identity) ?? 0) + 1;
      count.set(p.identity, n);
      return n <= limit;
    });
  }
  return out;
}
