/**
 * Seeded gallery / probe splits. Per identity its photos (sorted by id first, so the input order does not matter)
 * are shuffled with a PRNG seeded from (seed, identity); the first ceil(n / 2) go to the gallery, the rest are
 * probes. Different identities get independent shuffles; the same seed always gives the same split.
 */
import { deriveSeed, mulberry32, shuffled } from '../lib/prng.ts';

export interface IdentitySplit {
  gallery: string[];
  probes: string[];
}

export const SPLIT_RULE =
  'per identity: photos sorted by id, shuffled with mulberry32(fnv1a(seed, identity)); gallery = first ceil(n/2), probes = rest';

export function splitIdentity(photoIds: readonly string[], identity: string, seed: number): IdentitySplit {
  const order = shuffled(photoIds.slice().sort(), mulberry32(deriveSeed('split', seed, identity)));
  const cut = Math.ceil(order.length / 2);
  return { gallery: order.slice(0, cut), probes: order.slice(cut) };
}

export function makeSplit(byIdentity: ReadonlyMap<string, readonly string[]>, seed: number): Map<string, IdentitySplit> {
  const out = new Map<string, IdentitySplit>();
  for (const [identity, ids] of byIdentity) out.set(identity, splitIdentity(ids, identity, seed));
  return out;
}
