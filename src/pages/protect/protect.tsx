/**
 * The protect page (issue 5): protect photos on this computer. Drop or choose many files (or paste), pick a strength
 * per batch, follow each file's progress, compare before/after up close, read the protection estimate, and save each
 * cloaked copy, all of them as a ZIP, or copy one to the clipboard. "Protect image" on a web page opens here too
 * (protect.html?image=<handoff>; see src/background/context-menu.ts).
 *
 * Files are cloaked through the background's cloak port (./cloak-port.ts) two at a time: the engine runs one at a
 * time anyway, and the second is uploaded and queued while the first runs. The estimate arrives in the recent cloaks
 * (record `summary.recordId`) seconds after the cloak; the page follows chrome.storage changes to show it.
 */
import { render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import {
  type CloakProgress,
  type CloakSummary,
  base64Into,
  sendMessage,
} from '../../shared/messages.ts';
import { RECENT_CLOAKS_STORAGE_KEY, type RecentCloak } from '../../shared/recent-cloaks.ts';
import { STRENGTHS, type Settings, type Strength } from '../../shared/settings.ts';
import { onSettingsStored } from '../../shared/settings-watch.ts';
import { ProtectionMatrix } from '../../ui/protection-matrix.tsx';
import { CloakPortError, cloakBytes } from './cloak-port.ts';
import { Compare } from './compare.tsx';
import { ACCEPT, cloakedFileName, refusalReason } from './files.ts';
import { personalMaskPhrase } from './mask-phrase.ts';
import { uniqueNames, zipStore } from './zip.ts';
import './protect.css';

const STRENGTH_TEXT: Record<Strength, { label: string; note: string }> = {
  low: { label: 'Low', note: 'nearly invisible, weakest protection, fastest' },
  mid: { label: 'Medium', note: 'visible on close inspection, the usual choice' },
  high: { label: 'High', note: 'visible grain, strongest protection' },
};

/** Files cloaked at once: one in the engine, one uploaded and waiting behind it. */
const CONCURRENCY = 2;

type ItemState =
  | { kind: 'refused'; reason: string }
  | { kind: 'queued' }
  | { kind: 'working'; progress: CloakProgress }
  | { kind: 'failed'; message: string }
  | { kind: 'done'; summary: CloakSummary; output: File; beforeUrl: string; afterUrl: string; ms: number };

interface Item {
  id: number;
  file: File;
  strength: Strength;
  /** Where it came from, when not chosen here ("Protect image" on a page of this site). */
  from?: string | null;
  state: ItemState;
}

let nextItemId = 1;

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function useSettings(): Settings | null {
  const [settings, setSettings] = useState<Settings | null>(null);
  useEffect(() => {
    const load = () => sendMessage('background:getSettings').then(setSettings, () => undefined);
    void load();
    return onSettingsStored(() => void load());
  }, []);
  return settings;
}

/** The recent cloaks, kept current as records and their estimates arrive. */
function useRecentCloaks(): Map<string, RecentCloak> {
  const [records, setRecords] = useState<Map<string, RecentCloak>>(new Map());
  useEffect(() => {
    const load = () =>
      sendMessage('background:getRecentCloaks').then(
        (list) => setRecords(new Map(list.map((record) => [record.id, record]))),
        () => undefined,
      );
    void load();
    const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string) => {
      if (area === 'local' && RECENT_CLOAKS_STORAGE_KEY in changes) void load();
    };
    chrome.storage.onChanged.addListener(onChanged);
    return () => chrome.storage.onChanged.removeListener(onChanged);
  }, []);
  return records;
}

function ProtectPage() {
  const settings = useSettings();
  const records = useRecentCloaks();
  const [items, setItems] = useState<Item[]>([]);
  const [strength, setStrength] = useState<Strength | null>(null);
  const [notice, setNotice] = useState<{ kind: 'error' | 'info'; text: string } | null>(null);
  const [dragging, setDragging] = useState(false);
  const [zipping, setZipping] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const aborts = useRef(new Map<number, AbortController>());
  const chosenStrength = strength ?? settings?.otherSites.strength ?? 'mid';

  const update = useCallback((id: number, state: ItemState) => {
    setItems((list) => list.map((item) => (item.id === id ? { ...item, state } : item)));
  }, []);

  const addFiles = useCallback(
    (files: Iterable<File>, options: { strength: Strength; from?: string | null }) => {
      const added: Item[] = [...files].map((file) => {
        const reason = refusalReason(file);
        return {
          id: nextItemId++,
          file,
          strength: options.strength,
          from: options.from,
          state: reason ? { kind: 'refused', reason } : { kind: 'queued' },
        };
      });
      if (added.length) setItems((list) => [...list, ...added]);
    },
    [],
  );

  // Start queued files while fewer than CONCURRENCY run.
  useEffect(() => {
    const running = items.filter((item) => item.state.kind === 'working').length;
    const next = items.filter((item) => item.state.kind === 'queued').slice(0, Math.max(0, CONCURRENCY - running));
    for (const item of next) {
      const controller = new AbortController();
      aborts.current.set(item.id, controller);
      update(item.id, { kind: 'working', progress: { phase: 'queued', face: 0, faces: 0, step: 0, steps: 0 } });
      void run(item, controller.signal).then((state) => {
        aborts.current.delete(item.id);
        if (!controller.signal.aborted) update(item.id, state);
      });
    }
  }, [items, update]);

  async function run(item: Item, signal: AbortSignal): Promise<ItemState> {
    const started = performance.now();
    try {
      const bytes = new Uint8Array(await item.file.arrayBuffer());
      const { summary, output } = await cloakBytes({
        bytes,
        mime: item.file.type,
        strength: item.strength,
        name: item.file.name,
        from: item.from,
        signal,
        onProgress: (progress) => {
          if (!signal.aborted) update(item.id, { kind: 'working', progress });
        },
      });
      const file = output
        ? new File([output], cloakedFileName(item.file.name, summary.mime, false), { type: summary.mime })
        : item.file;
      return {
        kind: 'done',
        summary,
        output: file,
        beforeUrl: URL.createObjectURL(item.file),
        afterUrl: output ? URL.createObjectURL(file) : '',
        ms: performance.now() - started,
      };
    } catch (error) {
      if (error instanceof CloakPortError && error.code === 'bad-image') return { kind: 'failed', message: error.message };
      return { kind: 'failed', message: errorMessage(error) };
    }
  }

  const remove = (id: number) => {
    aborts.current.get(id)?.abort();
    aborts.current.delete(id);
    setItems((list) => {
      const item = list.find((i) => i.id === id);
      if (item?.state.kind === 'done') revoke(item.state);
      return list.filter((i) => i.id !== id);
    });
  };

  const retry = (id: number) => update(id, { kind: 'queued' });

  // "Protect image" from a web page: take the bytes the background holds, or say why there are none.
  useEffect(() => {
    const params = new URLSearchParams(location.search);
    const failed = params.get('failed');
    const handoff = params.get('image');
    if (failed) setNotice({ kind: 'error', text: `Face Cloak could not read that image: ${failed}` });
    if (!handoff) return;
    void takeHandoff(handoff).then(
      (taken) => {
        if (!taken) {
          setNotice({
            kind: 'error',
            text: 'That image is no longer available here. Right-click it on its page and choose "Protect image" again.',
          });
          return;
        }
        addFiles([taken.file], { strength: taken.strength, from: taken.site });
        // A reload should not cloak it a second time.
        history.replaceState(null, '', location.pathname);
      },
      (error: unknown) => setNotice({ kind: 'error', text: `The image could not be handed over: ${errorMessage(error)}` }),
    );
  }, [addFiles]);

  // Paste photos anywhere on the page.
  useEffect(() => {
    const onPaste = (event: ClipboardEvent) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (files.length) {
        event.preventDefault();
        addFiles(files, { strength: chosenStrength });
      }
    };
    document.addEventListener('paste', onPaste);
    return () => document.removeEventListener('paste', onPaste);
  }, [addFiles, chosenStrength]);

  const done = items.filter((item): item is Item & { state: Extract<ItemState, { kind: 'done' }> } => item.state.kind === 'done');
  const working = items.filter((item) => item.state.kind === 'working' || item.state.kind === 'queued').length;
  const failed = items.filter((item) => item.state.kind === 'failed').length;
  const recentKept = settings ? settings.recentCloaksDays > 0 : true;

  const downloadAll = async () => {
    setZipping(true);
    try {
      const names = uniqueNames(done.map((item) => item.state.output.name));
      const entries = await Promise.all(
        done.map(async (item, i) => ({
          name: names[i]!,
          bytes: new Uint8Array(await item.state.output.arrayBuffer()),
          modified: new Date(item.state.output.lastModified),
        })),
      );
      const zip = new Blob([zipStore(entries)], { type: 'application/zip' });
      saveBlob(zip, `cloaked-photos-${new Date().toISOString().slice(0, 10)}.zip`);
    } catch (error) {
      setNotice({ kind: 'error', text: `The ZIP could not be made: ${errorMessage(error)}` });
    } finally {
      setZipping(false);
    }
  };

  return (
    <div
      class={`page${dragging ? ' dragging' : ''}`}
      onDragOver={(event) => {
        if (!event.dataTransfer?.types.includes('Files')) return;
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={(event) => {
        if (event.relatedTarget === null) setDragging(false);
      }}
      onDrop={(event) => {
        event.preventDefault();
        setDragging(false);
        addFiles(event.dataTransfer?.files ?? [], { strength: chosenStrength });
      }}
    >
      <header class="masthead">
        <h1>Protect photos</h1>
        <p class="lede">
          Add a cloak to the faces in your photos before you share them, so face recognition built on scraped photos
          cannot match them to you. Everything runs on this computer; nothing is uploaded.
        </p>
        <nav class="masthead-links">
          <a href="options.html">Settings</a>
        </nav>
      </header>

      {notice && (
        <p class={`notice notice--${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
          {notice.text}{' '}
          <button type="button" class="link" onClick={() => setNotice(null)}>
            Dismiss
          </button>
        </p>
      )}

      <section class="add" aria-labelledby="add-title">
        <h2 id="add-title" class="visually-hidden">
          Add photos
        </h2>
        <fieldset class="strength">
          <legend>Strength for the photos you add next</legend>
          {STRENGTHS.map((s) => (
            <label key={s}>
              <input type="radio" name="strength" value={s} checked={chosenStrength === s} onChange={() => setStrength(s)} />{' '}
              <strong>{STRENGTH_TEXT[s].label}</strong> <span class="muted">{STRENGTH_TEXT[s].note}</span>
            </label>
          ))}
        </fieldset>
        <div class="dropzone">
          <p>
            <strong>Drop photos here</strong>, paste them, or
          </p>
          <button type="button" class="primary" onClick={() => input.current?.click()}>
            Choose photos…
          </button>
          <input
            ref={input}
            type="file"
            accept={ACCEPT}
            multiple
            class="visually-hidden"
            tabIndex={-1}
            aria-label="Choose photos to protect"
            data-testid="file-input"
            onChange={(event) => {
              const el = event.currentTarget;
              addFiles(el.files ?? [], { strength: chosenStrength });
              el.value = ''; // The same files can be chosen again.
            }}
          />
          <p class="muted small">JPEG, PNG, WebP, GIF, BMP or AVIF. Each keeps its size and format; GIF, BMP and AVIF become PNG.</p>
        </div>
      </section>

      {items.length > 0 && (
        <section class="results" aria-labelledby="results-title">
          <div class="results-bar">
            <h2 id="results-title">Your photos</h2>
            <p class="summary" role="status" data-testid="summary">
              {working > 0 ? `Protecting ${working} of ${items.length}…` : `${done.length} of ${items.length} ready`}
              {failed > 0 ? `, ${failed} failed` : ''}
            </p>
            <button type="button" onClick={downloadAll} disabled={done.length === 0 || zipping}>
              {zipping ? 'Making the ZIP…' : `Download all (${done.length}) as ZIP`}
            </button>
          </div>
          <ol class="items">
            {items.map((item) => (
              <li key={item.id}>
                <ItemCard
                  item={item}
                  record={item.state.kind === 'done' && item.state.summary.recordId ? records.get(item.state.summary.recordId) : undefined}
                  recentKept={recentKept}
                  onRemove={() => remove(item.id)}
                  onRetry={() => retry(item.id)}
                />
              </li>
            ))}
          </ol>
        </section>
      )}

    </div>
  );
}

function ItemCard(props: {
  item: Item;
  record: RecentCloak | undefined;
  recentKept: boolean;
  onRemove(): void;
  onRetry(): void;
}) {
  const { item } = props;
  const { state } = item;
  const headingId = `item-${item.id}`;
  return (
    <article
      class={`item item--${state.kind}`}
      aria-labelledby={headingId}
      data-testid="item"
      data-state={state.kind}
      // The changed regions, image pixels: what the tests compare before and after.
      data-regions={state.kind === 'done' ? JSON.stringify(state.summary.faces.map((f) => f.region)) : undefined}
    >
      <header class="item-head">
        <h3 id={headingId} class="item-name">
          {item.file.name}
        </h3>
        <span class="muted small">
          {formatBytes(item.file.size)}
          {state.kind !== 'refused' && ` · ${STRENGTH_TEXT[item.strength].label} strength`}
          {item.from && ` · from ${item.from}`}
        </span>
        <button type="button" class="link remove" onClick={props.onRemove} aria-label={`Remove ${item.file.name}`}>
          {state.kind === 'working' || state.kind === 'queued' ? 'Cancel' : 'Remove'}
        </button>
      </header>
      {state.kind === 'refused' && (
        <p class="status status--refused" data-testid="status">
          Not added: {state.reason}
        </p>
      )}
      {state.kind === 'queued' && (
        <p class="status" data-testid="status">
          Queued
        </p>
      )}
      {state.kind === 'working' && <Progress name={item.file.name} progress={state.progress} />}
      {state.kind === 'failed' && (
        <div class="status status--failed" role="alert">
          <p data-testid="status">Failed: {state.message}</p>
          <button type="button" onClick={props.onRetry}>
            Retry
          </button>
        </div>
      )}
      {state.kind === 'done' && <Done item={item} state={state} record={props.record} recentKept={props.recentKept} />}
    </article>
  );
}

function Progress({ name, progress }: { name: string; progress: CloakProgress }) {
  const { phase, face, faces, step, steps } = progress;
  const text =
    phase === 'queued'
      ? 'Queued: waiting for the engine'
      : phase === 'detecting'
        ? 'Looking for faces…'
        : phase === 'cloaking'
          ? `Cloaking face ${face} of ${faces}, step ${step}/${steps}`
          : 'Encoding…';
  const value = phase === 'cloaking' && faces > 0 && steps > 0 ? (face - 1 + step / steps) / faces : undefined;
  return (
    <div class="status status--working">
      <p data-testid="status">{text}</p>
      <progress
        max={1}
        value={value}
        aria-label={`Progress of ${name}`}
        aria-valuetext={value === undefined ? text : `${Math.round(value * 100)} %: ${text}`}
      />
    </div>
  );
}

function Done(props: {
  item: Item;
  state: Extract<ItemState, { kind: 'done' }>;
  record: RecentCloak | undefined;
  recentKept: boolean;
}) {
  const { item, state, record } = props;
  const { summary } = state;
  const [copy, setCopy] = useState<string | null>(null);
  const faces = summary.faces.length;
  const small = summary.skippedSmallFaces;

  if (summary.unchanged) {
    return (
      <div class="status status--unchanged">
        <p data-testid="status">
          No face found: unchanged.{' '}
          {small > 0
            ? `${small} ${small === 1 ? 'face was' : 'faces were'} too small to cloak. `
            : 'There is nothing to cloak in this photo. '}
          You can still save it; it keeps its name.
        </p>
        <div class="actions">
          <a class="button" href={state.beforeUrl} download={state.output.name} data-testid="download">
            Download {state.output.name}
          </a>
        </div>
      </div>
    );
  }

  const copyToClipboard = async () => {
    setCopy('Copying…');
    try {
      const png = state.output.type === 'image/png' ? state.output : await toPng(state.output);
      await navigator.clipboard.write([new ClipboardItem({ 'image/png': png })]);
      setCopy(state.output.type === 'image/png' ? 'Copied.' : 'Copied (as PNG: the clipboard only takes PNG).');
    } catch (error) {
      setCopy(`Could not copy: ${errorMessage(error)}`);
    }
  };

  const focus = summary.faces[0]?.box;
  return (
    <div class="done">
      <p class="status status--done" data-testid="status">
        Protected: {faces} {faces === 1 ? 'face' : 'faces'} cloaked in {(state.ms / 1000).toFixed(1)} s
        {small > 0 ? `; ${small} too small to cloak, left as ${small === 1 ? 'it was' : 'they were'}` : ''}
        {personalMaskPhrase(summary.faces)}.
      </p>
      <div class="actions">
        <a class="button primary" href={state.afterUrl} download={state.output.name} data-testid="download">
          Download {state.output.name}
        </a>
        <button type="button" onClick={copyToClipboard}>
          Copy to clipboard
        </button>
        {copy && (
          <span class="muted small" role="status">
            {copy}
          </span>
        )}
      </div>
      <Compare
        before={state.beforeUrl}
        after={state.afterUrl}
        width={summary.width}
        height={summary.height}
        focus={focus}
        name={item.file.name}
      />
      <section class="estimate" aria-label={`Protection estimate of ${item.file.name}`} data-testid="estimate">
        <h4>Protection estimate</h4>
        {summary.recordId === null ? (
          <p class="muted">
            {props.recentKept
              ? 'No estimate for this photo: it was protected while recent cloaks were not kept.'
              : 'The estimate needs recent cloaks to be kept: '}
            {!props.recentKept && <a href="options.html#recent">turn on "Keep recent cloaks" in the settings</a>}
            {!props.recentKept && ', then protect the photo again.'}
          </p>
        ) : record ? (
          // Its "What this means" opens explainer.html (the popup's explainer as a page) in a new tab.
          <ProtectionMatrix estimate={record.estimate} />
        ) : (
          <p class="muted">The estimate was removed with the recent cloaks (cleared or expired).</p>
        )}
      </section>
    </div>
  );
}

/** The clipboard takes PNG only (Chromium's async clipboard): draw the photo and encode it as PNG. */
async function toPng(file: File): Promise<Blob> {
  const bitmap = await createImageBitmap(file);
  try {
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    canvas.getContext('2d')!.drawImage(bitmap, 0, 0);
    return await canvas.convertToBlob({ type: 'image/png' });
  } finally {
    bitmap.close();
  }
}

async function takeHandoff(id: string): Promise<{ file: File; strength: Strength; site: string | null } | null> {
  let offset = 0;
  let bytes: Uint8Array<ArrayBuffer> | null = null;
  let meta: { name: string; mime: string; strength: Strength; site: string | null } | null = null;
  do {
    const chunk = await sendMessage('background:takeImageHandoff', { id, offset });
    if (!chunk) return null;
    bytes ??= new Uint8Array(chunk.size);
    meta ??= chunk;
    offset += base64Into(chunk.data, bytes, offset);
    if (chunk.data.length === 0) break;
  } while (offset < bytes.length);
  if (!bytes || !meta || offset !== bytes.length) throw new Error('the image arrived incomplete');
  return { file: new File([bytes], meta.name, { type: meta.mime }), strength: meta.strength, site: meta.site };
}

function revoke(state: Extract<ItemState, { kind: 'done' }>): void {
  URL.revokeObjectURL(state.beforeUrl);
  if (state.afterUrl) URL.revokeObjectURL(state.afterUrl);
}

function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  // The download has read the blob long before this.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

render(<ProtectPage />, document.getElementById('app')!);
