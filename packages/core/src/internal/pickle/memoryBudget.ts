/**
 * What the values a pickle makes cost in memory, estimated as the
 * unpickler makes them, so that a small pickle of many costly one-byte
 * opcodes (49 MB of `}` is 49 million dicts, 9 GB on V8's heap) fails with
 * `LimitExceeded` before it takes the heap, instead of ending the process.
 *
 * Each value pushed costs its slot (`SLOT_BYTES`, counted by the
 * unpickler's push count); what an opcode makes beyond that is in
 * `VALUE_BYTES`; strings and bytes add their length; each key/value pair
 * set on a dict adds `DICT_ENTRY_BYTES`. The figures are V8's on x64
 * (measured with `--expose-gc` over a million of each), rounded up.
 *
 * @internal
 */

/** Bytes of a value's slot in the stack, a list or a tuple. @internal */
export const SLOT_BYTES = 8

/** Bytes of a dict's key/value pair beyond the two slots (V8's hash table entry and its slack). @internal */
export const DICT_ENTRY_BYTES = 16

/**
 * The most a pickle's values may take by default, estimated: 64 times the
 * pickle's bytes, at least 64 MiB and at most 1 GiB (a quarter of Node's
 * default heap on 64-bit machines). Real pickles stay far below 64×: a
 * state_dict's tensor takes about 8 times its pickle bytes, a list of ints
 * or floats 4 times; a pickle of nothing but empty dicts takes 184 times.
 *
 * @internal
 */
export const defaultValueBytes = (pickleBytes: number): number => Math.min(2 ** 30, Math.max(2 ** 26, 64 * pickleBytes))

/** Bytes of what each opcode makes beyond its slot, by opcode; 0 for those that make nothing new. @internal */
export const VALUE_BYTES: Uint16Array = (() => {
  const table = new Uint16Array(256)
  const set = (bytes: number, ...codes: ReadonlyArray<number>) => codes.forEach((code) => (table[code] = bytes))
  set(184, 0x7d, 0x64) // EMPTY_DICT, DICT: a Map (V8's smallest is 184 bytes)
  set(64, 0x8f, 0x91) // EMPTY_SET, FROZENSET: an object and its items' array
  set(32, 0x5d, 0x6c) // EMPTY_LIST, LIST: an array
  set(64, 0x29, 0x85, 0x86, 0x87, 0x74) // EMPTY_TUPLE, TUPLE1-3, TUPLE: an object and its items' array
  set(128, 0x52, 0x81, 0x92, 0x69, 0x6f) // REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ: an object of seven fields and its arguments
  set(64, 0x63, 0x93, 0x82, 0x83, 0x84) // GLOBAL, STACK_GLOBAL, EXT1-4: a global's name
  set(256, 0x50, 0x51) // PERSID, BINPERSID: a storage, or what a hook makes of the id
  set(24, 0x46, 0x47) // FLOAT, BINFLOAT: a PyFloat
  set(24, 0x49, 0x4c, 0x8a, 0x8b) // INT, LONG, LONG1, LONG4: at most a heap number or a small bigint
  set(24, 0x42, 0x43, 0x8e, 0x96) // BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8: a Uint8Array (and its length)
  set(16, 0x53, 0x54, 0x55, 0x56, 0x8d, 0x8c, 0x58) // strings: a header (and their length)
  return table
})()
