/**
 * A store-only ZIP writer (no compression: photos are already compressed, so deflate would buy nothing and cost a
 * dependency). Enough of APPNOTE 6.3.x for every unzip in use: local headers with sizes and CRC-32 up front (no data
 * descriptors), a central directory, UTF-8 names (general purpose flag bit 11), DOS times. No ZIP64: the protect
 * page's files are at most MAX_CLOAK_FILE_BYTES each and a few dozen at a time, far below 4 GiB; larger input throws.
 *
 * Pure code (no DOM beyond Blob, which Node has), unit-tested against Info-ZIP's `unzip` and Node's zlib.crc32.
 */

export interface ZipEntry {
  /** Path inside the archive; '/' separates folders. Made unique by `uniqueNames` before it gets here. */
  name: string;
  bytes: Uint8Array;
  /** Modification time stored in the entry (DOS time, local, 2 s resolution). Default: now. */
  modified?: Date;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (ISO 3309 / ITU-T V.42, the one ZIP and PNG use) of `bytes`, continuing from `crc` when given. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const MAX_32 = 0xffffffff;
const UTF8_FLAG = 1 << 11;
const VERSION = 20; // 2.0: what a stored entry with folders needs.

/** The archive as bytes. Throws when an entry or the whole would need ZIP64. */
export function zipStore(entries: readonly ZipEntry[]): Uint8Array<ArrayBuffer> {
  if (entries.length > 0xffff) throw new RangeError('too many files for a ZIP without ZIP64');
  const encoder = new TextEncoder();
  const prepared = entries.map((entry) => {
    const name = encoder.encode(entry.name);
    if (name.length === 0 || name.length > 0xffff) throw new RangeError(`bad file name: ${JSON.stringify(entry.name)}`);
    if (entry.bytes.length >= MAX_32) throw new RangeError(`${entry.name} is too large for a ZIP without ZIP64`);
    return { name, bytes: entry.bytes, crc: crc32(entry.bytes), ...dosDateTime(entry.modified ?? new Date()) };
  });

  const localSize = prepared.reduce((sum, e) => sum + 30 + e.name.length + e.bytes.length, 0);
  const centralSize = prepared.reduce((sum, e) => sum + 46 + e.name.length, 0);
  const total = localSize + centralSize + 22;
  if (localSize >= MAX_32 || total >= MAX_32) throw new RangeError('these files are too large for one ZIP');

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let at = 0;
  const u16 = (value: number) => {
    view.setUint16(at, value, true);
    at += 2;
  };
  const u32 = (value: number) => {
    view.setUint32(at, value, true);
    at += 4;
  };
  const put = (bytes: Uint8Array) => {
    out.set(bytes, at);
    at += bytes.length;
  };

  const offsets: number[] = [];
  for (const e of prepared) {
    offsets.push(at);
    u32(0x04034b50); // local file header signature
    u16(VERSION); // version needed to extract
    u16(UTF8_FLAG); // general purpose flags: names are UTF-8
    u16(0); // compression: stored
    u16(e.time);
    u16(e.date);
    u32(e.crc);
    u32(e.bytes.length); // compressed size
    u32(e.bytes.length); // uncompressed size
    u16(e.name.length);
    u16(0); // extra field length
    put(e.name);
    put(e.bytes);
  }

  const centralStart = at;
  prepared.forEach((e, i) => {
    u32(0x02014b50); // central directory header signature
    u16((3 << 8) | VERSION); // version made by: Unix, so unzip reads the mode below
    u16(VERSION);
    u16(UTF8_FLAG);
    u16(0);
    u16(e.time);
    u16(e.date);
    u32(e.crc);
    u32(e.bytes.length);
    u32(e.bytes.length);
    u16(e.name.length);
    u16(0); // extra field length
    u16(0); // comment length
    u16(0); // disk number start
    u16(0); // internal attributes
    u32((0o100644 << 16) >>> 0); // external attributes: a regular file, rw-r--r--
    u32(offsets[i]!);
    put(e.name);
  });

  u32(0x06054b50); // end of central directory signature
  u16(0); // this disk
  u16(0); // disk with the central directory
  u16(prepared.length);
  u16(prepared.length);
  u32(centralSize);
  u32(centralStart);
  u16(0); // comment length
  return out;
}

/** DOS date and time fields (local time; years 1980..2107, clamped). */
function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.min(Math.max(date.getFullYear(), 1980), 2107);
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

/**
 * The same names, each unique (case-insensitively, as on Windows and macOS): a repeat gets " (2)", " (3)"... before
 * its extension.
 */
export function uniqueNames(names: readonly string[]): string[] {
  const taken = new Set<string>();
  return names.map((name) => {
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    let candidate = name;
    for (let n = 2; taken.has(candidate.toLowerCase()); n++) candidate = `${stem} (${n})${ext}`;
    taken.add(candidate.toLowerCase());
    return candidate;
  });
}
