/**
 * MAIN-world content script (document_start, all frames, supported sites only): runs inside the page's own JavaScript
 * world, before any page script, so it can catch photos on their way into the page (issue 4): file inputs
 * (page/file-inputs.ts), drag-and-drop and paste (page/drop-paste.ts), and the file system APIs (page/file-system.ts).
 * The photos go over a private MessagePort (page/page-bridge.ts) to the isolated-world script (content.ts), which
 * has them cloaked and shows the overlay; the page then receives the cloaked files through the same event or call.
 *
 * Rules for code here, because it shares the page's world:
 * - never throw into the page: every hook runs inside try/catch, and a hook that cannot start leaves the page as is;
 * - define no globals and leave no visible trace the page could break on (or fingerprint): replaced methods keep
 *   their names, lengths and native-looking toString (page/disguise.ts);
 * - use built-ins captured at startup (page/natives.ts), before page scripts can replace them;
 * - no extension APIs exist here (chrome.* is unavailable in the MAIN world).
 */
import { hookDropAndPaste } from './page/drop-paste.ts';
import { hookFileInputs } from './page/file-inputs.ts';
import { hookFileSystem } from './page/file-system.ts';
import { hookRelativePaths, trackClicks } from './page/files.ts';
import { connectPageBridge } from './page/page-bridge.ts';

for (const [name, start] of [
  ['bridge', connectPageBridge],
  ['clicks', trackClicks],
  ['file inputs', hookFileInputs],
  ['folder paths', hookRelativePaths],
  ['drop and paste', hookDropAndPaste],
  ['file system', hookFileSystem],
] as const) {
  try {
    start();
  } catch (error) {
    console.warn(`[face-cloak] the ${name} hook failed to start; the page is unaffected by it:`, error);
  }
}
