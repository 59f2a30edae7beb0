/**
 * Before/after comparison of one photo: a split view (the original left of the handle, the cloaked copy right of it)
 * or the two side by side, at "fit", 100 % or 200 % (one photo pixel = 1 or 2 CSS pixels, nearest-neighbour at 200 %
 * so the cloak's pixels are seen as they are). The view pans by scrolling, dragging, or the arrow keys once focused;
 * zooming centres on the first face. Every control is a native input or button, so it works from the keyboard and
 * is announced by screen readers.
 */
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

export interface CompareProps {
  /** Object URLs of the original and of the cloaked photo. */
  before: string;
  after: string;
  width: number;
  height: number;
  /** Where to centre a zoom: the first face's box, image pixels. */
  focus?: { x: number; y: number; width: number; height: number };
  /** For labels: the file's name. */
  name: string;
}

type Zoom = 'fit' | 1 | 2;
const ZOOMS: { value: Zoom; label: string }[] = [
  { value: 'fit', label: 'Fit' },
  { value: 1, label: '100 %' },
  { value: 2, label: '200 %' },
];

export function Compare({ before, after, width, height, focus, name }: CompareProps) {
  const [mode, setMode] = useState<'split' | 'side'>('split');
  const [zoom, setZoom] = useState<Zoom>('fit');
  const [split, setSplit] = useState(50);
  const views = useRef<(HTMLDivElement | null)[]>([]);
  const [uid] = useState(() => `cmp-${Math.random().toString(36).slice(2, 8)}`);

  // Centre the face (or the middle) after a zoom or mode change.
  useLayoutEffect(() => {
    if (zoom === 'fit') return;
    const cx = (focus ? focus.x + focus.width / 2 : width / 2) * zoom;
    const cy = (focus ? focus.y + focus.height / 2 : height / 2) * zoom;
    for (const view of views.current) {
      if (!view) continue;
      view.scrollLeft = cx - view.clientWidth / 2;
      view.scrollTop = cy - view.clientHeight / 2;
    }
  }, [zoom, mode, focus, width, height]);

  // Fit: as large as the column and 70 % of the window allow, never above 100 % (upscaling only blurs).
  const stageStyle =
    zoom === 'fit'
      ? { width: `min(100%, ${width}px, calc(70vh * ${(width / height).toFixed(4)}))`, aspectRatio: `${width} / ${height}` }
      : { width: `${width * zoom}px`, height: `${height * zoom}px` };
  const pixelated = zoom === 2 ? ' compare-pixelated' : '';

  /** Side by side: panning one pane pans the other. */
  const syncFrom = (index: number) => {
    if (mode !== 'side') return;
    const source = views.current[index];
    const other = views.current[1 - index];
    if (!source || !other) return;
    if (other.scrollLeft !== source.scrollLeft) other.scrollLeft = source.scrollLeft;
    if (other.scrollTop !== source.scrollTop) other.scrollTop = source.scrollTop;
  };

  const viewport = (index: number, label: string, content: preact.ComponentChildren) => (
    <Viewport
      key={`${mode}-${index}`}
      refCallback={(el) => (views.current[index] = el)}
      label={label}
      onScroll={() => syncFrom(index)}
      zoom={zoom}
      onZoom={setZoom}
    >
      <div class={`compare-stage${pixelated}`} style={stageStyle}>
        {content}
      </div>
    </Viewport>
  );

  return (
    <div class="compare">
      <div class="compare-controls">
        <fieldset class="segmented">
          <legend class="visually-hidden">View of {name}</legend>
          <label>
            <input type="radio" name={`${uid}-mode`} checked={mode === 'split'} onChange={() => setMode('split')} /> Split
          </label>
          <label>
            <input type="radio" name={`${uid}-mode`} checked={mode === 'side'} onChange={() => setMode('side')} /> Side by side
          </label>
        </fieldset>
        <fieldset class="segmented">
          <legend class="visually-hidden">Zoom of {name}</legend>
          {ZOOMS.map((z) => (
            <label key={String(z.value)}>
              <input type="radio" name={`${uid}-zoom`} checked={zoom === z.value} onChange={() => setZoom(z.value)} /> {z.label}
            </label>
          ))}
        </fieldset>
        {mode === 'split' && (
          <label class="compare-split">
            <span>Before</span>
            <input
              type="range"
              min={0}
              max={100}
              value={split}
              aria-label={`Split between before and after of ${name}`}
              aria-valuetext={`${split} % before, ${100 - split} % after`}
              onInput={(event) => setSplit(Number((event.target as HTMLInputElement).value))}
            />
            <span>After</span>
          </label>
        )}
      </div>
      {mode === 'split' ? (
        viewport(
          0,
          `${name}: original left of the handle, cloaked right of it`,
          <>
            <img src={before} alt={`${name}, original`} draggable={false} />
            <img
              src={after}
              alt={`${name}, cloaked`}
              draggable={false}
              class="compare-after"
              style={{ clipPath: `inset(0 0 0 ${split}%)` }}
            />
            <span class="compare-handle" style={{ left: `${split}%` }} aria-hidden="true" />
          </>,
        )
      ) : (
        <div class="compare-side">
          <figure>
            <figcaption>Before</figcaption>
            {viewport(0, `${name}, original`, <img src={before} alt={`${name}, original`} draggable={false} />)}
          </figure>
          <figure>
            <figcaption>After</figcaption>
            {viewport(1, `${name}, cloaked`, <img src={after} alt={`${name}, cloaked`} draggable={false} />)}
          </figure>
        </div>
      )}
      <p class="hint">
        {zoom === 'fit'
          ? 'Zoom to 100 % or 200 % to see the cloak up close.'
          : 'Drag, scroll or use the arrow keys (after a click or Tab into the photo) to move around; + and − zoom.'}
      </p>
    </div>
  );
}

function Viewport(props: {
  refCallback(el: HTMLDivElement | null): void;
  label: string;
  onScroll(): void;
  zoom: Zoom;
  onZoom(zoom: Zoom): void;
  children: preact.ComponentChildren;
}) {
  const ref = useRef<HTMLDivElement | null>(null);
  const drag = useRef<{ x: number; y: number; left: number; top: number } | null>(null);

  useEffect(() => () => props.refCallback(null), []);

  const onKeyDown = (event: KeyboardEvent) => {
    const el = ref.current;
    if (!el) return;
    const step = event.shiftKey ? 200 : 60;
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-step, 0],
      ArrowRight: [step, 0],
      ArrowUp: [0, -step],
      ArrowDown: [0, step],
    };
    const move = moves[event.key];
    if (move) {
      el.scrollBy(move[0], move[1]);
      event.preventDefault();
    } else if (event.key === '+' || event.key === '=') {
      props.onZoom(props.zoom === 'fit' ? 1 : 2);
      event.preventDefault();
    } else if (event.key === '-') {
      props.onZoom(props.zoom === 2 ? 1 : 'fit');
      event.preventDefault();
    }
  };

  return (
    <div
      ref={(el) => {
        ref.current = el;
        props.refCallback(el);
      }}
      class={`compare-view${props.zoom === 'fit' ? '' : ' compare-pannable'}`}
      tabIndex={0}
      role="group"
      aria-label={`${props.label}. Arrow keys move, plus and minus zoom.`}
      onScroll={props.onScroll}
      onKeyDown={onKeyDown}
      onPointerDown={(event) => {
        const el = ref.current;
        if (!el || props.zoom === 'fit' || event.button !== 0) return;
        drag.current = { x: event.clientX, y: event.clientY, left: el.scrollLeft, top: el.scrollTop };
        el.setPointerCapture(event.pointerId);
      }}
      onPointerMove={(event) => {
        const el = ref.current;
        const start = drag.current;
        if (!el || !start) return;
        el.scrollLeft = start.left - (event.clientX - start.x);
        el.scrollTop = start.top - (event.clientY - start.y);
      }}
      onPointerUp={() => (drag.current = null)}
      onPointerCancel={() => (drag.current = null)}
    >
      {props.children}
    </div>
  );
}
