/**
 * Replaces built-in methods so that the replacement looks like the original to the page: same property flags, same
 * `name` and `length`, no `prototype`, and `Function.prototype.toString` reports the original's
 * "function click() { [native code] }". Sites and their anti-bot scripts check exactly these things; a replacement
 * that fails them would break uploads or mark the person's browser as unusual.
 */
const { apply, defineProperty, getOwnPropertyDescriptor } = Reflect;
const nativeToString = Function.prototype.toString;
/** replacement -> the original it stands for */
const originals = new WeakMap<object, object>();
let toStringMasked = false;

function maskToString(): void {
  if (toStringMasked) return;
  toStringMasked = true;
  const toString = {
    toString(this: unknown): string {
      const original = typeof this === 'function' ? originals.get(this) : undefined;
      // A non-function `this` makes the native throw its own TypeError, as it would without us.
      return apply(nativeToString, original ?? this, []) as string;
    },
  }.toString;
  replaceMethod(Function.prototype, 'toString', () => toString);
}

/**
 * Replaces `target[name]` with `make(original)`. The replacement must be written as a method shorthand
 * (`{ name(...) {...} }.name`) so it has no `prototype` and cannot be constructed, like a native method. Returns the
 * original, or null when the browser does not have that method (nothing is patched then).
 */
export function replaceMethod<F extends (...args: never[]) => unknown>(
  target: object,
  name: string,
  make: (original: F) => F,
): F | null {
  const descriptor = getOwnPropertyDescriptor(target, name);
  if (!descriptor || typeof descriptor.value !== 'function') return null;
  if (name !== 'toString') maskToString();
  const original = descriptor.value as F;
  const replacement = make(original);
  defineProperty(replacement, 'name', { value: original.name, configurable: true });
  defineProperty(replacement, 'length', { value: original.length, configurable: true });
  originals.set(replacement, original);
  defineProperty(target, name, { ...descriptor, value: replacement });
  return original;
}

/**
 * Replaces the getter of accessor `target[name]` with `make(original)`, disguised like `replaceMethod`'s
 * replacements. Write the replacement as an object literal getter
 * (`getOwnPropertyDescriptor({ get name() {...} }, 'name').get`): like a native getter it has no `prototype` and is
 * named "get name". Returns the original getter, or null when the browser has no such accessor.
 */
export function replaceGetter<V>(
  target: object,
  name: string,
  make: (original: (this: unknown) => V) => (this: unknown) => V,
): ((this: unknown) => V) | null {
  const descriptor = getOwnPropertyDescriptor(target, name);
  if (!descriptor || typeof descriptor.get !== 'function') return null;
  maskToString();
  const original = descriptor.get as (this: unknown) => V;
  const replacement = make(original);
  defineProperty(replacement, 'name', { value: original.name, configurable: true });
  defineProperty(replacement, 'length', { value: original.length, configurable: true });
  originals.set(replacement, original);
  defineProperty(target, name, { ...descriptor, get: replacement });
  return original;
}

/**
 * Replaces the setter of accessor `target[name]` with `make(original)`, disguised like `replaceGetter`'s replacements
 * (write it as an object literal setter: named "set name", no `prototype`). Returns the original setter, or null when
 * the browser has no such accessor.
 */
export function replaceSetter<V>(
  target: object,
  name: string,
  make: (original: (this: unknown, value: V) => void) => (this: unknown, value: V) => void,
): ((this: unknown, value: V) => void) | null {
  const descriptor = getOwnPropertyDescriptor(target, name);
  if (!descriptor || typeof descriptor.set !== 'function') return null;
  maskToString();
  const original = descriptor.set as (this: unknown, value: V) => void;
  const replacement = make(original);
  defineProperty(replacement, 'name', { value: original.name, configurable: true });
  defineProperty(replacement, 'length', { value: original.length, configurable: true });
  originals.set(replacement, original);
  defineProperty(target, name, { ...descriptor, set: replacement });
  return original;
}
