/**
 * The options page's "Your personal mask" section: learn a mask from a few photos of the person (mask-port.ts), see
 * when it was learned and whether cloaks can still start from it, learn it again, or delete it. The background keeps
 * it (src/background/personal-mask-store.ts); this section re-reads it whenever storage changes.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { MAX_MASK_PHOTOS, type MaskLearnProgress, sendMessage } from '../../shared/messages.ts';
import { PERSONAL_MASK_STORAGE_KEY, type PersonalMaskInfo } from '../../shared/personal-mask.ts';
import { MaskLearnError, learnPersonalMask, photosProblem } from './mask-port.ts';
import { type Message, Notice, errorMessage } from './notice.tsx';

function progressText({ phase, step, steps }: MaskLearnProgress): string {
  switch (phase) {
    case 'uploading':
      return 'Reading the photos…';
    case 'queued':
      return 'Waiting for photos being protected to finish…';
    case 'detecting':
      return 'Finding your face in each photo…';
    case 'learning':
      return `Learning: step ${step} of ${steps}`;
  }
}

export function PersonalMaskSection() {
  const [info, setInfo] = useState<PersonalMaskInfo | null | undefined>(undefined);
  const [files, setFiles] = useState<File[]>([]);
  const [progress, setProgress] = useState<MaskLearnProgress | null>(null);
  const [message, setMessage] = useState<Message>(null);
  const learning = useRef<AbortController | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    // The popup links here (options.html#personal-mask); the section renders after the settings load, too late for
    // the browser's own jump to the anchor.
    if (location.hash === '#personal-mask') document.getElementById('personal-mask')?.scrollIntoView();
    const load = () => sendMessage('background:getPersonalMask').then(setInfo, () => setInfo(null));
    void load();
    const onChanged = (changes: Record<string, chrome.storage.StorageChange>, area: string) => {
      if (area === 'local' && PERSONAL_MASK_STORAGE_KEY in changes) void load();
    };
    chrome.storage.onChanged.addListener(onChanged);
    return () => {
      chrome.storage.onChanged.removeListener(onChanged);
      learning.current?.abort();
    };
  }, []);

  const chosenProblem = files.length > 0 ? photosProblem(files) : null;

  const learn = async () => {
    const abort = new AbortController();
    learning.current = abort;
    setMessage(null);
    setProgress({ phase: 'uploading', step: 0, steps: 0 });
    try {
      const photos = await Promise.all(files.map(async (file) => ({ name: file.name, bytes: new Uint8Array(await file.arrayBuffer()) })));
      const learned = await learnPersonalMask(photos, { signal: abort.signal, onProgress: setProgress });
      setInfo(learned);
      setFiles([]);
      if (fileInput.current) fileInput.current.value = '';
      setMessage({ kind: 'ok', text: `Learned your personal mask from ${learned.photos} photo${learned.photos === 1 ? '' : 's'}.` });
    } catch (error) {
      const kept = info ? ' Your earlier mask is kept.' : '';
      const cancelled = error instanceof MaskLearnError && error.code === 'cancelled';
      setMessage({ kind: 'error', text: cancelled ? `Learning was cancelled.${kept}` : `No mask was learned: ${errorMessage(error)}${kept}` });
    } finally {
      learning.current = null;
      setProgress(null);
    }
  };

  const remove = async () => {
    setMessage(null);
    try {
      await sendMessage('background:deletePersonalMask');
      setInfo(null);
      setMessage({ kind: 'ok', text: 'Your personal mask is deleted. Cloaks start from scratch again.' });
    } catch (error) {
      setMessage({ kind: 'error', text: `Could not delete the mask: ${errorMessage(error)}` });
    }
  };

  const fraction = progress?.phase === 'learning' && progress.steps > 0 ? progress.step / progress.steps : undefined;
  return (
    <section class="card" id="personal-mask" aria-labelledby="mask-title">
      <h2 id="mask-title">Your personal mask</h2>
      <p class="muted small">
        Face Cloak can learn a cloak pattern from a few photos of you, once. Medium-strength cloaks then start a face
        from it where it fits, that is where the pattern alone already moves the face well away from itself, and further
        than a pattern learned from other people's faces does, and need two thirds of the steps there: about 30 % faster
        for that face. In our measurements it fitted about half of people's new photos of themselves, and about 1 in 100
        faces of other people, whose cloaks then come out a little weaker. A face it does not fit, like nearly all other
        people in your photos, is cloaked from scratch as without a mask. Either way, in our measurements (40 photos of
        10 people) about 7 in 10 faces escaped the FaceNet-style recognizer the cloak never saw, 6 in 10 the stronger
        ArcFace-style one and 1 in 10 the weaker one, as from scratch. The mask is a pattern, not a photo. It stays on
        this device and is not part of settings exports.
      </p>
      <p data-testid="mask-status">
        {info === undefined
          ? ''
          : info === null
            ? 'No personal mask: cloaks start from scratch.'
            : `Learned on ${new Date(info.learnedAt).toLocaleString()} from ${info.photos} photo${info.photos === 1 ? '' : 's'}.` +
              (info.problem ? '' : ' Medium cloaks start from it.')}
      </p>
      {info?.problem && (
        <p class="notice notice--error" role="alert" data-testid="mask-problem">
          {info.problem} Until then, cloaks start from scratch.
        </p>
      )}
      <div class="group">
        <label for="mask-photos" class="label-strong">
          Photos of you
        </label>
        <p class="muted small" id="mask-photos-help">
          3 to 5 photos (at most {MAX_MASK_PHOTOS}), each showing your face; the largest face in each is used. Learning
          takes about 20 to 30 seconds per photo on a two-core computer and waits while photos are being protected;
          keep this page open meanwhile.
        </p>
        <input
          ref={fileInput}
          id="mask-photos"
          type="file"
          accept="image/*"
          multiple
          disabled={progress !== null}
          aria-describedby={chosenProblem ? 'mask-photos-error' : 'mask-photos-help'}
          onChange={(event) => setFiles([...(event.currentTarget.files ?? [])])}
        />
        {chosenProblem && (
          <p id="mask-photos-error" class="field-error" role="alert">
            {chosenProblem}
          </p>
        )}
      </div>
      {progress && (
        <div class="group" data-testid="mask-progress">
          <p>{progressText(progress)}</p>
          <progress
            max={1}
            value={fraction}
            aria-label="Learning the personal mask"
            aria-valuetext={fraction === undefined ? progressText(progress) : `${Math.round(fraction * 100)} %`}
          />
        </div>
      )}
      <div class="row buttons">
        {progress ? (
          <button type="button" onClick={() => learning.current?.abort()}>
            Cancel learning
          </button>
        ) : (
          <button type="button" disabled={files.length === 0 || chosenProblem !== null} onClick={() => void learn()}>
            {info ? 'Learn it again' : 'Learn my mask'}
          </button>
        )}
        <button type="button" class="danger" disabled={!info || progress !== null} onClick={() => void remove()}>
          Delete my mask
        </button>
      </div>
      <Notice message={message} />
    </section>
  );
}
