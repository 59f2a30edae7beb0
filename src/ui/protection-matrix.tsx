/**
 * The protection matrix of one cloaked photo (issue 5), shared by the popup and the protect page: recognizers (rows)
 * x defenses (columns), each cell "faces not matched / faces judged", coloured from red (none protected) to green
 * (all protected), with the text and a legend so colour is never the only carrier.
 *
 * Honesty, as in src/engine/evaluate/estimate.ts: only recognizers the cloak never saw estimate protection. They come
 * first, marked "never seen by the cloak"; the recognizers the cloak was optimised against follow in their own group,
 * marked "optimised against: not evidence" (their numbers only show that the optimisation worked). The one headline
 * number is `heldOutProtection`, computed by the engine from the held-out recognizers alone, and says so. Nothing
 * judged shows "n/a", never 0 % or 100 %.
 *
 * Props: `{estimate}` (a record's estimate in any state) is the stable interface; the rest is optional.
 */
import { useState } from 'preact/hooks';
import type { EstimateCell, EstimateRecognizer, ProtectionEstimate, RecentCloakEstimate } from '../shared/recent-cloaks.ts';
import './protection-matrix.css';

export interface ProtectionMatrixProps {
  estimate: RecentCloakEstimate;
  /** Start with only the headline shown and a control to expand the matrix (small spaces: the popup). */
  collapsed?: boolean;
  /**
   * Where the headline's "What this means" link goes: the explainer page by default (opens a tab); an in-page
   * `#id` is followed in place, and a <details> there is opened.
   */
  explainerHref?: string;
}

/** Readable names of the recognizers, after their family (models/manifest.json ids); the popup lists them too. */
export const RECOGNIZER_NAMES: Record<string, string> = {
  'faceapi-resnet': 'face-api ResNet',
  'human-faceres': 'FaceRes',
  'human-faceres-deep': 'FaceRes-deep',
  'human-mobileface': 'MobileFace',
  'expo-mobilefacenet': 'MobileFaceNet',
  'faceplugin-mobilefacenet': 'faceplugin MobileFaceNet',
};

/** "FaceNet-style (face-api ResNet)": the family without its parenthetical detail, then the model. */
export function recognizerLabel(recognizer: Pick<EstimateRecognizer, 'id' | 'family'>): string {
  const family = recognizer.family.replace(/\s*\(.*\)\s*$/, '').trim() || 'Recognizer';
  return `${family} (${RECOGNIZER_NAMES[recognizer.id] ?? recognizer.id})`;
}

/** A share 0..1 as a whole percent, "n/a" for null. */
export function formatShare(share: number | null): string {
  return share === null ? 'n/a' : `${Math.round(share * 100)} %`;
}

let nextId = 0;

export function ProtectionMatrix({ estimate, collapsed = false, explainerHref = 'explainer.html' }: ProtectionMatrixProps) {
  switch (estimate.state) {
    case 'pending':
      return (
        <div class="fc-matrix fc-matrix--state" data-state="pending" role="status">
          <span class="fc-spinner" aria-hidden="true" /> Estimating protection… (runs after the photo was handed over)
        </div>
      );
    case 'failed':
      return (
        <div class="fc-matrix fc-matrix--state" data-state="failed">
          Protection could not be estimated: {estimate.message}
        </div>
      );
    case 'skipped':
      return (
        <div class="fc-matrix fc-matrix--state" data-state="skipped">
          Protection not estimated: {estimate.reason}
        </div>
      );
    case 'done':
      return <Matrix value={estimate.value} collapsed={collapsed} explainerHref={explainerHref} />;
  }
}

function Matrix({ value, collapsed, explainerHref }: { value: ProtectionEstimate; collapsed: boolean; explainerHref: string }) {
  const [open, setOpen] = useState(!collapsed);
  const [ids] = useState(() => {
    nextId += 1;
    return { table: `fc-matrix-${nextId}` };
  });
  const heldOut = value.recognizers.filter((r) => !r.seenByCloak);
  const seen = value.recognizers.filter((r) => r.seenByCloak);
  const cell = (recognizer: string, defense: string) =>
    value.cells.find((c) => c.recognizer === recognizer && c.defense === defense);
  const inPage = explainerHref.startsWith('#');
  const linkTarget = inPage ? undefined : '_blank';
  // An in-page explainer is usually a closed <details>: open it, bring it into view and move focus there.
  const followInPage = (event: MouseEvent) => {
    const target = inPage ? document.getElementById(explainerHref.slice(1)) : null;
    if (!target) return;
    event.preventDefault();
    if (target instanceof HTMLDetailsElement) target.open = true;
    target.scrollIntoView({ block: 'start' });
    (target.querySelector<HTMLElement>(':scope > summary') ?? target).focus();
  };

  return (
    <div class="fc-matrix" data-state="done">
      <p class="fc-headline">
        <span class="fc-headline-label">Estimated protection</span>{' '}
        <strong class="fc-headline-value" data-testid="held-out-protection">
          {formatShare(value.heldOutProtection)}
        </strong>
        <span class="fc-headline-note">
          {heldOut.length === 0
            ? 'No recognizer was held out from the cloak, so there is no honest estimate.'
            : value.heldOutProtection === null
              ? 'No face could be judged in this photo.'
              : `from ${heldOut.length === 1 ? 'the recognizer' : `the ${heldOut.length} recognizers`} the cloak never ` +
                `saw, on ${value.defenses.length} versions of the photo a site or tracker may make; ` +
                `${value.faces} ${value.faces === 1 ? 'face' : 'faces'} judged` +
                (value.unjudgedFaces > 0 ? `, ${value.unjudgedFaces} too small or cut off to judge` : '') +
                '.'}{' '}
          <a
            href={explainerHref}
            target={linkTarget}
            rel={linkTarget ? 'noopener' : undefined}
            class="fc-explain"
            onClick={followInPage}
          >
            What this means
          </a>
        </span>
      </p>
      <button
        type="button"
        class="fc-toggle"
        aria-expanded={open}
        aria-controls={ids.table}
        onClick={() => setOpen((o) => !o)}
      >
        {open ? 'Hide details' : 'Show each recognizer and defense'}
      </button>
      <div id={ids.table} class="fc-table-wrap" hidden={!open}>
        <table class="fc-table">
          <caption>
            Faces not matched / faces judged, per recognizer and what was done to the photo.
          </caption>
          <thead>
            <tr>
              <th scope="col" class="fc-corner">
                Recognizer
              </th>
              {value.defenses.map((d) => (
                <th scope="col" key={d.id}>
                  {d.label}
                </th>
              ))}
            </tr>
          </thead>
          <RowGroup
            title="Never seen by the cloak: the honest estimate"
            kind="held-out"
            recognizers={heldOut}
            defenses={value.defenses}
            cell={cell}
          />
          <RowGroup
            title="Optimised against: not evidence"
            kind="seen"
            recognizers={seen}
            defenses={value.defenses}
            cell={cell}
          />
        </table>
        <Legend />
      </div>
    </div>
  );
}

function RowGroup(props: {
  title: string;
  kind: 'held-out' | 'seen';
  recognizers: EstimateRecognizer[];
  defenses: { id: string; label: string }[];
  cell: (recognizer: string, defense: string) => EstimateCell | undefined;
}) {
  if (props.recognizers.length === 0) return null;
  return (
    <tbody class={`fc-group fc-group--${props.kind}`}>
      <tr>
        <th scope="rowgroup" colSpan={props.defenses.length + 1} class="fc-group-title">
          {props.title}
        </th>
      </tr>
      {props.recognizers.map((r) => (
        <tr key={r.id} data-recognizer={r.id} data-seen-by-cloak={String(r.seenByCloak)}>
          <th scope="row" class="fc-recognizer">
            {recognizerLabel(r)}
          </th>
          {props.defenses.map((d) => (
            <Cell key={d.id} cell={props.cell(r.id, d.id)} defense={d.id} />
          ))}
        </tr>
      ))}
    </tbody>
  );
}

function Cell({ cell, defense }: { cell: EstimateCell | undefined; defense: string }) {
  if (!cell || cell.faces === 0) {
    return (
      <td class="fc-cell fc-cell--na" data-defense={defense} title="No face could be judged">
        n/a
      </td>
    );
  }
  const share = cell.protectedFaces / cell.faces;
  const similarity = cell.meanSimilarity === null ? '' : `, mean similarity ${cell.meanSimilarity.toFixed(2)}`;
  return (
    <td
      class="fc-cell"
      data-defense={defense}
      style={{ '--fc-share': share.toFixed(3) }}
      title={`${cell.protectedFaces} of ${cell.faces} ${cell.faces === 1 ? 'face' : 'faces'} not matched (${formatShare(share)})${similarity}`}
    >
      <span class="fc-cell-count">
        {cell.protectedFaces}/{cell.faces}
      </span>
      <span class="fc-cell-share">{formatShare(share)}</span>
    </td>
  );
}

function Legend() {
  return (
    <div class="fc-legend">
      <span class="fc-legend-scale" aria-hidden="true">
        <span class="fc-legend-swatch" style={{ '--fc-share': '0' }} />
        <span class="fc-legend-swatch" style={{ '--fc-share': '0.5' }} />
        <span class="fc-legend-swatch" style={{ '--fc-share': '1' }} />
      </span>
      <span>
        Red: still matched to the clean face; green: not matched. <strong>2/3</strong> = 2 of 3 faces not matched.
        n/a = nothing to judge.
      </span>
    </div>
  );
}
