/**
 * MAIN-world content script (document_start, all frames, supported sites only): runs inside the page's own JavaScript
 * world, before any page script, so it can wrap what the page uses to upload photos.
 *
 * THIS IS THE HOOK POINT FOR THE "extension" ISSUE (upload interception): file inputs (`change` events and the
 * `files` getter), drag-and-drop and paste `DataTransfer`s, `FormData`/`fetch`/`XMLHttpRequest` bodies. It hands the
 * files to the isolated-world script (src/content/content.ts), which talks to the background.
 *
 * Rules for code here, because it shares the page's world:
 * - never throw into the page: everything runs inside try/catch;
 * - define no globals and leave no visible trace the page could break on (or fingerprint);
 * - capture the built-ins you rely on at startup, before page scripts can replace them;
 * - no extension APIs exist here (chrome.* is unavailable in the MAIN world).
 */
try {
  // Intentionally empty until upload interception lands.
} catch (error) {
  console.warn('[face-cloak] main-world hook failed to start; the page is unaffected:', error);
}
