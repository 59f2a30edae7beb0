/**
 * Isolated-world content script (supported sites, document_start, all frames): keeps this site's settings current
 * and is the bridge between the MAIN-world upload hook (src/content/main-world.ts) and the extension: it receives
 * the photos the page is about to get, has them cloaked (cloak-client.ts), shows the overlay, and hands the cloaked
 * files back (isolated-bridge.ts).
 */
import { startIsolatedBridge } from './isolated-bridge.ts';
import { watchSiteSettings } from './site-settings.ts';

watchSiteSettings();
startIsolatedBridge();
