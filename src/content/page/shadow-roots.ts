/**
 * Shadow roots the page creates, closed ones included (Reddit's upload controls live in web components). Wrapping
 * `attachShadow` lets the hooks listen inside every root, where a non-composed `change` event stays, and find the
 * real target of a drop or paste inside a closed root, which `composedPath()` hides from a listener on `window`.
 */
import { replaceMethod } from './disguise.ts';
import { SafeWeakMap, natives as n } from './natives.ts';

const rootOfHost = new SafeWeakMap<Element, ShadowRoot>();
const onNewRoot: ((root: ShadowRoot) => void)[] = [];

export function hookShadowRoots(listen: (root: ShadowRoot) => void): void {
  onNewRoot[onNewRoot.length] = listen;
  if (onNewRoot.length > 1) return;
  replaceMethod<(this: Element, init: ShadowRootInit) => ShadowRoot>(
    n.Element.prototype,
    'attachShadow',
    (original) =>
      ({
        attachShadow(this: Element, init: ShadowRootInit): ShadowRoot {
          const root = n.apply(original, this, [init]);
          try {
            rootOfHost.set(this, root);
            for (let i = 0; i < onNewRoot.length; i++) onNewRoot[i](root);
          } catch (error) {
            console.debug('[face-cloak] could not watch a shadow root:', error);
          }
          return root;
        },
      }).attachShadow,
  );
}

/** The shadow root `host` was given through attachShadow (open or closed), if any. */
export function shadowRootOf(host: Element): ShadowRoot | undefined {
  return rootOfHost.get(host);
}

/**
 * The innermost element an event hit, looking inside shadow roots that `composedPath()` does not show from here:
 * `pick(root)` says which element of a root is meant (the one under the pointer, or the focused one).
 */
export function innermostTarget(event: Event, pick: (root: ShadowRoot) => Element | null): EventTarget | null {
  let target: EventTarget | null = n.composedPath(event)[0] ?? n.eventTarget(event);
  for (let depth = 0; depth < 32 && target instanceof n.Element; depth++) {
    const root = rootOfHost.get(target);
    if (!root) break;
    const inner = pick(root);
    if (!inner || inner === target) break;
    target = inner;
  }
  return target;
}
