/**
 * Isolated-world content script (supported sites, document_start, all frames): the bridge between the MAIN-world
 * upload hook (src/content/main-world.ts) and the background. For now it keeps this site's settings current, which
 * the upload hook will consult; the "extension" issue adds the bridge itself.
 */
import { watchSiteSettings } from './site-settings.ts';

watchSiteSettings();
