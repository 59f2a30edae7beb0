/**
 * The built-ins the MAIN-world hook relies on, captured when this module is evaluated: at document_start, before any
 * page script runs. Pages replace prototype methods (zone.js wraps addEventListener, analytics wrap dispatchEvent,
 * some sites polyfill DataTransfer); calling the captured originals keeps the hook working, and keeps the page from
 * observing it, whatever the page does later.
 *
 * Only what runs after startup needs to be here; code that runs once at startup may use the globals directly.
 */
const { apply } = Reflect;
const descriptor = Object.getOwnPropertyDescriptor;

function getter<T, V>(proto: object, name: string): (target: T) => V {
  const get = descriptor(proto, name)?.get;
  if (!get) throw new Error(`no getter ${name}`);
  return (target) => apply(get, target, []) as V;
}

function method<T, A extends unknown[], R>(proto: object, name: string): (target: T, ...args: A) => R {
  const fn = (proto as Record<string, unknown>)[name];
  if (typeof fn !== 'function') throw new Error(`no method ${name}`);
  return (target, ...args) => apply(fn as (...a: A) => R, target, args);
}

/** A method that may not exist in this browser (e.g. getAsFileSystemHandle outside Chromium). */
function optionalMethod<T, A extends unknown[], R>(proto: object | undefined, name: string): ((target: T, ...args: A) => R) | null {
  if (!proto || typeof (proto as Record<string, unknown>)[name] !== 'function') return null;
  return method(proto, name);
}

const filesDescriptor = descriptor(HTMLInputElement.prototype, 'files');
if (!filesDescriptor?.get || !filesDescriptor.set) throw new Error('HTMLInputElement.files is not an accessor');
const setFiles = filesDescriptor.set;

/** `promise.then(...)` with the original `then`, whatever the page did to Promise.prototype since. */
export function then<T, R>(promise: Promise<T>, onFulfilled: (value: T) => R, onRejected?: (error: unknown) => R): Promise<Awaited<R>> {
  return apply(promiseThen, promise, [onFulfilled, onRejected]) as Promise<Awaited<R>>;
}
const promiseThen = Promise.prototype.then;

/** `pattern.test(text)` with the original RegExp and String methods. */
export function matches(pattern: RegExp, text: string): boolean {
  return apply(regexpExec, pattern, [apply(toLowerCase, text, [])]) !== null;
}
const regexpExec = RegExp.prototype.exec;
const toLowerCase = String.prototype.toLowerCase;

export const natives = {
  apply,
  defineProperty: Object.defineProperty,
  getOwnPropertyDescriptor: descriptor,
  WeakMap,
  WeakSet,
  Promise,
  File,
  DataTransfer,
  Event,
  MouseEvent,
  DragEvent,
  ClipboardEvent,
  InputEvent,
  DOMException,
  HTMLInputElement,
  Element,
  setTimeout: setTimeout.bind(window),
  now: performance.now.bind(performance),

  addEventListener: method<EventTarget, [string, (event: Event) => void, AddEventListenerOptions | boolean], void>(
    EventTarget.prototype,
    'addEventListener',
  ),
  removeEventListener: method<EventTarget, [string, (event: Event) => void, EventListenerOptions | boolean], void>(
    EventTarget.prototype,
    'removeEventListener',
  ),
  dispatchEvent: method<EventTarget, [Event], boolean>(EventTarget.prototype, 'dispatchEvent'),
  stopImmediatePropagation: method<Event, [], void>(Event.prototype, 'stopImmediatePropagation'),
  preventDefault: method<Event, [], void>(Event.prototype, 'preventDefault'),
  composedPath: method<Event, [], EventTarget[]>(Event.prototype, 'composedPath'),
  eventTarget: getter<Event, EventTarget | null>(Event.prototype, 'target'),
  eventType: getter<Event, string>(Event.prototype, 'type'),
  defaultPrevented: getter<Event, boolean>(Event.prototype, 'defaultPrevented'),
  messageEventData: getter<MessageEvent, unknown>(MessageEvent.prototype, 'data'),
  messageEventPorts: getter<MessageEvent, readonly MessagePort[]>(MessageEvent.prototype, 'ports'),
  dragEventDataTransfer: getter<DragEvent, DataTransfer | null>(DragEvent.prototype, 'dataTransfer'),
  clipboardEventData: getter<ClipboardEvent, DataTransfer | null>(ClipboardEvent.prototype, 'clipboardData'),

  inputFiles: getter<HTMLInputElement, FileList | null>(HTMLInputElement.prototype, 'files'),
  setInputFiles: (input: HTMLInputElement, files: FileList) => apply(setFiles, input, [files]),
  inputType: getter<HTMLInputElement, string>(HTMLInputElement.prototype, 'type'),
  inputMultiple: getter<HTMLInputElement, boolean>(HTMLInputElement.prototype, 'multiple'),
  inputDisabled: getter<HTMLInputElement, boolean>(HTMLInputElement.prototype, 'disabled'),
  isConnected: getter<Node, boolean>(Node.prototype, 'isConnected'),
  getBoundingClientRect: method<Element, [], DOMRect>(Element.prototype, 'getBoundingClientRect'),
  shadowRootElementFromPoint: method<ShadowRoot, [number, number], Element | null>(ShadowRoot.prototype, 'elementFromPoint'),
  shadowRootActiveElement: getter<ShadowRoot, Element | null>(ShadowRoot.prototype, 'activeElement'),
  fragmentQuerySelectorAll: method<DocumentFragment, [string], NodeListOf<Element>>(DocumentFragment.prototype, 'querySelectorAll'),
  nodeListLength: getter<NodeList, number>(NodeList.prototype, 'length'),
  nodeListItem: method<NodeList, [number], Node | null>(NodeList.prototype, 'item'),
  documentElementFromPoint: method<Document, [number, number], Element | null>(Document.prototype, 'elementFromPoint'),
  activeElement: getter<Document, Element | null>(Document.prototype, 'activeElement'),
  execCommand: method<Document, [string, boolean, string], boolean>(Document.prototype, 'execCommand'),

  fileListLength: getter<FileList, number>(FileList.prototype, 'length'),
  fileListItem: method<FileList, [number], File | null>(FileList.prototype, 'item'),
  fileName: getter<File, string>(File.prototype, 'name'),
  fileLastModified: getter<File, number>(File.prototype, 'lastModified'),
  /** The native getter, captured before files.ts's `hookRelativePaths` replaces it; '' where the browser lacks it. */
  fileRelativePath: descriptor(File.prototype, 'webkitRelativePath')?.get
    ? getter<File, string>(File.prototype, 'webkitRelativePath')
    : () => '',
  blobType: getter<Blob, string>(Blob.prototype, 'type'),
  blobSize: getter<Blob, number>(Blob.prototype, 'size'),

  dataTransferFiles: getter<DataTransfer, FileList>(DataTransfer.prototype, 'files'),
  dataTransferItems: getter<DataTransfer, DataTransferItemList>(DataTransfer.prototype, 'items'),
  dataTransferTypes: getter<DataTransfer, readonly string[]>(DataTransfer.prototype, 'types'),
  dataTransferGetData: method<DataTransfer, [string], string>(DataTransfer.prototype, 'getData'),
  dataTransferSetData: method<DataTransfer, [string, string], void>(DataTransfer.prototype, 'setData'),
  dropEffect: getter<DataTransfer, DataTransfer['dropEffect']>(DataTransfer.prototype, 'dropEffect'),
  setDropEffect: (dt: DataTransfer, value: DataTransfer['dropEffect']) =>
    apply(descriptor(DataTransfer.prototype, 'dropEffect')!.set!, dt, [value]),
  effectAllowed: getter<DataTransfer, DataTransfer['effectAllowed']>(DataTransfer.prototype, 'effectAllowed'),
  setEffectAllowed: (dt: DataTransfer, value: DataTransfer['effectAllowed']) =>
    apply(descriptor(DataTransfer.prototype, 'effectAllowed')!.set!, dt, [value]),
  itemListLength: getter<DataTransferItemList, number>(DataTransferItemList.prototype, 'length'),
  itemListAdd: method<DataTransferItemList, [File], DataTransferItem | null>(DataTransferItemList.prototype, 'add'),
  itemKind: getter<DataTransferItem, string>(DataTransferItem.prototype, 'kind'),
  itemGetAsFile: method<DataTransferItem, [], File | null>(DataTransferItem.prototype, 'getAsFile'),
  itemWebkitGetAsEntry: optionalMethod<DataTransferItem, [], FileSystemEntry | null>(
    DataTransferItem.prototype,
    'webkitGetAsEntry',
  ),
  itemGetAsFileSystemHandle: optionalMethod<DataTransferItem, [], Promise<FileSystemHandle | null>>(
    DataTransferItem.prototype,
    'getAsFileSystemHandle',
  ),

  /** `navigator.storage`, absent outside secure contexts. */
  navigatorStorage: descriptor(Navigator.prototype, 'storage')?.get
    ? getter<Navigator, StorageManager | undefined>(Navigator.prototype, 'storage')
    : () => undefined,
  /** The page's origin-private file system root (a secure context's StorageManager), where the browser has one. */
  storageGetDirectory: optionalMethod<StorageManager, [], Promise<FileSystemDirectoryHandle>>(
    globalThis.StorageManager?.prototype,
    'getDirectory',
  ),
  /** `directory.resolve(handle)`: the path of `handle` inside `directory`, or null when it is not inside it. */
  directoryHandleResolve: optionalMethod<FileSystemDirectoryHandle, [FileSystemHandle], Promise<string[] | null>>(
    globalThis.FileSystemDirectoryHandle?.prototype,
    'resolve',
  ),

  portPostMessage: method<MessagePort, [unknown], void>(MessagePort.prototype, 'postMessage'),
  portStart: method<MessagePort, [], void>(MessagePort.prototype, 'start'),
};

const weakMapProto = WeakMap.prototype;
const [weakMapGet, weakMapSet, weakMapHas, weakMapDelete] = [weakMapProto.get, weakMapProto.set, weakMapProto.has, weakMapProto.delete];

/** A WeakMap whose methods are the originals, so a page patching WeakMap.prototype neither breaks nor sees it. */
export class SafeWeakMap<K extends object, V> {
  readonly #map = new WeakMap<K, V>();
  get(key: K): V | undefined {
    return apply(weakMapGet, this.#map, [key]) as V | undefined;
  }
  set(key: K, value: V): void {
    apply(weakMapSet, this.#map, [key, value]);
  }
  has(key: K): boolean {
    return apply(weakMapHas, this.#map, [key]) as boolean;
  }
  delete(key: K): void {
    apply(weakMapDelete, this.#map, [key]);
  }
}
