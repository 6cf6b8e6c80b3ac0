/**
 * The pickle layer: opcodes, the unpickler's value model, and incremental
 * decoding at arbitrary chunk boundaries.
 */
import { assert, describe, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import fc from "fast-check"
import * as ByteSource from "@torchwire/core/ByteSource"
import * as Pickle from "@torchwire/core/Pickle"
import * as Summary from "@torchwire/core/Summary"
import * as Value from "@torchwire/core/Value"
import * as Zip from "@torchwire/core/Zip"
import { fixtureBytes, fixtures } from "@torchwire/test-utils"
import { StringHashLog } from "../src/internal/pickle/identity.js"
import { decodeUtf8At } from "../src/internal/pickle/opcodes.js"
import { scanPrePass } from "../src/internal/pickle/prePass.js"
import { CallableGlobal } from "../src/internal/pickle/hooks.js"
import { unpickle } from "../src/internal/pickle/unpickler.js"

/** Builds a pickle from opcode characters, byte values and strings. */
const pk = (...parts: Array<string | number | Uint8Array>): Uint8Array => {
  const out: Array<number> = []
  for (const p of parts) {
    if (typeof p === "number") out.push(p)
    else if (typeof p === "string") for (const ch of p) out.push(ch.charCodeAt(0))
    else out.push(...p)
  }
  return Uint8Array.from(out)
}
/** BININT1 opcodes pushing 0, 1, 2... (mod 256): `n` list items. */
const ints = (n: number) => pk(...Array.from({ length: n }, (_, i) => ["K", i & 255]).flat())
const u32 = (n: number) => pk(n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255)
const binunicode = (s: string) => {
  const b = new TextEncoder().encode(s)
  return pk("X", u32(b.length), b)
}

const load = (bytes: Uint8Array, options: Pickle.LoadOptions = {}) => Pickle.load(bytes, options)

/** The pickles of the fixtures: data.pkl of every zip, and the bare pickles. */
const fixturePickles = Effect.gen(function*() {
  const out: Array<readonly [string, Uint8Array]> = []
  for (const f of fixtures) {
    const bytes = fixtureBytes(f.file)
    if (f.format === "pickle") out.push([f.file, bytes])
    if (f.format === "zip") {
      const archive = yield* Zip.open(ByteSource.fromUint8Array(bytes))
      out.push([f.file, yield* archive.read(archive.entries.find((e) => e.name.endsWith("/data.pkl"))!)])
    }
  }
  return out
})

describe("Pickle", () => {
  it.effect("keeps Python's distinctions: int/float, list/tuple, bytes/bytearray, dict keys", () =>
    Effect.gen(function*() {
      const v = yield* load(pk(0x80, 2, "}", "(", "K", 1, "G", 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, "K", 2, ")", "K", 3, "]", binunicode("k"), 0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, "u", "."))
      assert.instanceOf(v, Map)
      const m = v as Map<Value.PyValue, Value.PyValue>
      assert.instanceOf(m.get(1), Value.PyFloat)
      assert.strictEqual((m.get(1) as Value.PyFloat).value, 1)
      assert.deepStrictEqual([...m.keys()], [1, 2, 3, "k"])
      assert.instanceOf(m.get(2), Value.PyTuple, "a tuple stays a tuple")
      assert.deepStrictEqual(m.get(3), [], "a list stays a list")
      assert.strictEqual(m.get("k"), 2n ** 64n, "LONG1 beyond 2^53 stays exact")
    }))

  it.effect("protocol 0 text opcodes", () =>
    Effect.gen(function*() {
      const v = yield* load(pk("(", "I01\n", "I00\n", "I-42\n", "L123456789012345678901L\n", "F0.25\n", "S'a\\'b\\n'\n", "V\\u20ac\\U0001f600x\n", "p0\n", "g0\n", "l."))
      assert.deepStrictEqual((v as Array<Value.PyValue>).slice(0, 4), [true, false, -42, 123456789012345678901n])
      const [, , , , f, s, u, again] = v as Array<Value.PyValue>
      assert.strictEqual((f as Value.PyFloat).value, 0.25)
      assert.strictEqual(s, "a'b\n")
      assert.strictEqual(u, "€😀x")
      assert.strictEqual(again, "€😀x")
      const specials = (yield* load(pk("(", "Finf\n", "F-inf\n", "Fnan\n", "l."))) as Array<Value.PyFloat>
      assert.deepStrictEqual(specials.map((x) => x.value), [Infinity, -Infinity, NaN])
      assert.strictEqual((yield* Effect.flip(load(pk("Fxyz\n.")))).reason, "BadArgument")
    }))

  it.effect("INST, OBJ, NEWOBJ and BUILD make opaque objects without calling anything", () =>
    Effect.gen(function*() {
      const v = yield* load(pk(0x80, 2, "(", "(", "K", 1, "ios\nsystem\n", "(", "c", "os\nsystem\n", binunicode("rm -rf /"), "o", "c", "mod\nCls\n", ")", 0x81, "}", binunicode("x"), "K", 5, "s", "b", "l", "."))
      const [inst, obj, built] = v as Array<Value.PyObject>
      assert.strictEqual(inst!.cls.qualifiedName, "os.system")
      assert.deepStrictEqual(inst!.args, [1])
      assert.strictEqual(obj!.how, "inst")
      assert.deepStrictEqual(obj!.args, ["rm -rf /"])
      assert.strictEqual(built!.how, "newobj")
      assert.deepStrictEqual([...(built!.state as Map<string, number>)], [["x", 5]])
    }))

  it.effect("STACK_GLOBAL, MEMOIZE, FRAME and SHORT_BINUNICODE (protocol 4)", () =>
    Effect.gen(function*() {
      const v = yield* load(pk(0x80, 4, 0x95, 20, 0, 0, 0, 0, 0, 0, 0, 0x8c, 11, "collections", 0x94, 0x8c, 11, "OrderedDict", 0x94, 0x93, 0x94, ")", "R", 0x94, "."))
      assert.instanceOf(v, Value.OrderedDict)
    }))

  it.effect("EXT1 needs a registry; with one it resolves", () =>
    Effect.gen(function*() {
      const bytes = pk(0x80, 2, 0x82, 7, ")", "R", ".")
      const error = yield* Effect.flip(load(bytes))
      assert.strictEqual(error.reason, "Extension")
      assert.strictEqual(error.offset, 2)
      const v = yield* load(bytes, { extensions: new Map([[7, ["collections", "OrderedDict"] as const]]) })
      assert.instanceOf(v, Value.OrderedDict)
    }))

  it.effect("memo, stack and mark errors are typed, with offsets", () =>
    Effect.gen(function*() {
      assert.strictEqual((yield* Effect.flip(load(pk(0x80, 2, "h", 3, ".")))).reason, "MemoMissing")
      assert.strictEqual((yield* Effect.flip(load(pk(0x80, 2, "t", ".")))).reason, "MarkMissing")
      const underflow = yield* Effect.flip(load(pk(0x80, 2, "(", 0x85, ".")))
      assert.strictEqual(underflow.reason, "StackUnderflow")
      assert.strictEqual(underflow.offset, 3)
      assert.strictEqual((yield* Effect.flip(load(pk(0x80, 6, "N", ".")))).reason, "BadArgument")
      assert.strictEqual((yield* Effect.flip(load(pk(0x80, 2, "X", 255, 255, 255, 127, "abc")))).reason, "Truncated")
      assert.strictEqual((yield* Effect.flip(load(pk(0x80, 2, "]", "K", 1, "s", ".")))).reason, "StackUnderflow")
      assert.strictEqual((yield* Effect.flip(load(pk(0x80, 2, "K", 1, "K", 2, "N", "s", ".")))).reason, "BadValue")
    }))

  it.effect("NEXT_BUFFER takes out-of-band buffers; POP and DUP behave as in CPython", () =>
    Effect.gen(function*() {
      const v = yield* load(pk(0x80, 5, "N", "0", "K", 9, "2", 0x86, "."))
      assert.deepStrictEqual((v as Value.PyTuple).items, [9, 9])
      assert.strictEqual((yield* Effect.flip(load(pk(0x80, 5, 0x97, ".")))).reason, "BadValue")
    }))

  it.effect("persistent ids go to the hook", () =>
    Effect.gen(function*() {
      const v = yield* load(pk(0x80, 2, binunicode("key"), "Q", "P", "text id\n", 0x86, "."), { persistentLoad: (pid) => `loaded:${String(pid)}` })
      assert.deepStrictEqual((v as Value.PyTuple).items, ["loaded:key", "loaded:text id"])
    }))

  it.effect("opcodes stream carries offsets; incremental decoding matches whole-buffer decoding at any split", () =>
    Effect.gen(function*() {
      const pickles = yield* fixturePickles
      assert.isAtLeast(pickles.length, 15)
      const [, linear] = pickles.find(([f]) => f === "linear.pt")!
      const streamed = Chunk.toReadonlyArray(yield* Stream.runCollect(Pickle.opcodes(linear)))
      assert.strictEqual(streamed[0]!.name, "PROTO")
      assert.strictEqual(streamed[1]!.offset, 2)
      assert.deepStrictEqual(streamed[1]!.arg, ["collections", "OrderedDict"])
      fc.assert(
        fc.property(fc.integer({ min: 0, max: pickles.length - 1 }), fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 40 }), (which, sizes) => {
          const [, bytes] = pickles[which]!
          const expected = Pickle.unsafeOpcodes(bytes)
          // A tiny initial buffer exercises growth and compaction.
          const decoder = Pickle.makeOpcodeDecoder({ initialCapacity: 16 })
          const got: Array<Pickle.PickleOp> = []
          let at = 0
          for (let i = 0; at < bytes.length; i++) {
            const size = sizes[i % sizes.length]!
            got.push(...decoder.push(bytes.subarray(at, at + size)))
            at += size
          }
          decoder.end()
          assert.deepStrictEqual(got, expected)
        }),
        { numRuns: 200 }
      )
    }))

  it.effect("dump writes what CPython writes: every bare-pickle fixture, protocols 0-5, byte for byte", () =>
    Effect.gen(function*() {
      for (let protocol = 0; protocol <= 5; protocol++) {
        const original = fixtureBytes(`plain_protocol${protocol}.pkl`)
        const again = yield* Pickle.dump(yield* load(original), { protocol })
        assert.deepStrictEqual(again, original, `protocol ${protocol}`)
      }
    }))

  it.effect("dump then load gives back the same value, any protocol (property)", () =>
    Effect.gen(function*() {
      const { value } = fc.letrec<{ value: Value.PyValue }>((tie) => ({
        value: fc.oneof(
          { depthSize: "small", withCrossShrink: true },
          fc.constant(null),
          fc.boolean(),
          fc.integer(),
          fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }),
          fc.double().map((d) => new Value.PyFloat(d)),
          fc.string({ unit: "binary" }),
          fc.uint8Array({ maxLength: 300 }),
          fc.array(tie("value"), { maxLength: 5 }),
          fc.array(tie("value"), { maxLength: 5 }).map((xs): Value.PyValue => new Value.PyTuple(xs)),
          fc.array(fc.tuple(fc.oneof(fc.string(), fc.integer()), tie("value")), { maxLength: 5 }).map((kv) => new Map<Value.PyValue, Value.PyValue>(kv)),
          fc.array(fc.tuple(fc.string(), tie("value")), { maxLength: 5 }).map((kv) => new Value.OrderedDict(kv)),
          fc.array(fc.integer(), { maxLength: 5 }).map((xs) => new Value.PySet([...new Set(xs)])),
          // Lists the unpickler makes at their final length (256 items or more), in one APPENDS batch or several.
          fc.array(fc.integer(), { minLength: 250, maxLength: 1100 })
        )
      }))
      const summarize = (v: Value.PyValue) => Effect.runSync(Summary.summarize(v))
      fc.assert(
        fc.property(value, fc.integer({ min: 0, max: 5 }), (v, protocol) => {
          const bytes = Effect.runSync(Pickle.dump(v as Value.PyValue, { protocol }))
          const back = Effect.runSync(Pickle.load(bytes))
          assert.deepStrictEqual(summarize(back), summarize(v as Value.PyValue))
          // And a second round trip is byte-stable.
          assert.deepStrictEqual(Effect.runSync(Pickle.dump(back, { protocol })), bytes)
        }),
        { numRuns: Number(process.env.TORCHWIRE_PROPERTY_RUNS ?? 300) }
      )
    }))

  it("the memo pre-pass finds the keys GETs fetch, and gives up where it cannot tell cheaply", () => {
    const fetchedKeys = (bytes: Uint8Array) => {
      const use = scanPrePass(bytes, 0, bytes.length)
      return use === undefined ? undefined : { keys: [...use.fetched.keys()].filter((k) => use.fetched[k] === 1), putBound: use.putBound }
    }
    // BINPUT 0 (fetched by BINGET), LONG_BINPUT 260 (fetched by LONG_BINGET), text PUT 7 (fetched by GET), BINPUT 5 (never fetched).
    const bytes = pk(0x80, 2, "(", binunicode("a"), "q", 0, "h", 0, "K", 1, "r", u32(260), "j", u32(260), "N", "p7\n", "g7\n", "N", "q", 5, "l", ".")
    assert.deepStrictEqual(fetchedKeys(bytes), { keys: [0, 7, 260], putBound: 261 })
    // MEMOIZE's keys count the puts before them; the bound covers them.
    assert.deepStrictEqual(fetchedKeys(pk(0x80, 4, "N", 0x94, "N", 0x94, "N", 0x94, "h", 2, "l", ".")), { keys: [2], putBound: 4 })
    // Arguments are skipped, not read as opcodes: a "h" inside a string is data.
    assert.deepStrictEqual(fetchedKeys(pk(0x80, 2, binunicode("hhh"), "q", 1, 0x8c, 2, "h", 1, "C", 1, "j", ".")), { keys: [], putBound: 2 })
    assert.isUndefined(fetchedKeys(pk(0x80, 2, "N")), "no STOP")
    assert.isUndefined(fetchedKeys(pk(0x80, 2, "X", 255, 255, 255, 127, "abc", ".")), "an argument past the end")
    assert.isUndefined(fetchedKeys(pk(0x80, 2, 0xff, ".")), "an unknown opcode")
    assert.isUndefined(fetchedKeys(pk(0x80, 2, "N", "r", u32(4_000_000), "j", u32(4_000_000), ".")), "sparse keys")
    assert.isUndefined(fetchedKeys(pk("N", "p-1\n", ".")), "a key that is not a plain decimal")
  })

  it("the pre-pass counts the items appended to each list while it is on the stack", () => {
    const listSizes = (...parts: Array<string | number | Uint8Array>) => {
      const bytes = pk(0x80, 2, ...parts, ".")
      const sizes = scanPrePass(bytes, 0, bytes.length)?.listSizes
      return sizes === undefined ? undefined : [...sizes]
    }
    // Batches of APPENDS and a lone APPEND add up.
    assert.deepStrictEqual(listSizes("]", "q", 0, "(", ints(300), "e", "(", ints(5), "e", "K", 1, "a"), [306])
    // Lists are counted in the order EMPTY_LIST makes them, nested or not; a list of fewer than 256 items is counted too.
    assert.deepStrictEqual(listSizes("]", "(", "]", "(", ints(300), "e", "K", 5, "e", "]", "(", ints(3), "e", 0x86), [2, 300, 3])
    // DUP pushes the same list again: appends through either copy count.
    assert.deepStrictEqual(listSizes("]", "2", "(", ints(200), "e", "0", "(", ints(100), "e"), [300])
    // Appends through the memo are not counted (the VM grows the list past its size).
    assert.isUndefined(listSizes("]", "q", 0, "0", "h", 0, "(", ints(300), "e"))
    // No list reaches 256 items: nothing to make at its size.
    assert.isUndefined(listSizes("]", "(", ints(255), "e"))
    // POP with a MARK on top pops the MARK only.
    assert.deepStrictEqual(listSizes("]", "(", "0", "(", ints(256), "e"), [256])
    // Where the stack cannot be modelled (here, popping an empty stack), no sizes; the memo keys are still found.
    const bytes = pk(0x80, 2, "]", "(", ints(300), "e", "0", "0", "N", "q", 0, "h", 0, ".")
    assert.isUndefined(scanPrePass(bytes, 0, bytes.length)?.listSizes)
    assert.deepStrictEqual([...scanPrePass(bytes, 0, bytes.length)!.fetched.subarray(0, 1)], [1])
  })

  it("a list made at its final length is cut to its items before a hook can see it, and grows as usual after", () => {
    const seen: Array<ReadonlyArray<Value.PyValue>> = []
    const record = new CallableGlobal("m", "record", (args) => {
      const list = args[0] as Array<Value.PyValue>
      seen.push([...list])
      return list
    })
    // [0..299, m.record(<the list itself>), 0..9]: the REDUCE runs between the two batches, as CPython's would.
    const bytes = pk(0x80, 2, "]", "q", 0, "(", ints(300), "e", "(", "c", "m\nrecord\n", "h", 0, 0x85, "R", ints(10), "e", ".")
    assert.deepStrictEqual([...scanPrePass(bytes, 0, bytes.length)!.listSizes!], [311])
    const { value } = unpickle(bytes, 0, { findClass: () => record })
    const list = value as Array<Value.PyValue>
    assert.strictEqual(seen.length, 1)
    assert.deepStrictEqual(seen[0], Array.from({ length: 300 }, (_, i) => i & 255))
    assert.strictEqual(list.length, 311)
    assert.strictEqual(list[300], list, "the hook's result is the list itself")
    assert.deepStrictEqual(list.slice(301), Array.from({ length: 10 }, (_, i) => i))
  })

  it.effect("a value reached twice is one object after loading, any protocol: the memo keeps what GETs fetch (property)", () =>
    Effect.gen(function*() {
      const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.constant(null))
      const shared = fc.array(
        fc.oneof(
          fc.array(leaf, { maxLength: 3 }),
          fc.array(leaf, { maxLength: 3 }).map((xs): Value.PyValue => new Value.PyTuple([...xs, []])),
          fc.array(fc.tuple(fc.string({ maxLength: 3 }), leaf), { maxLength: 3 }).map((kv) => new Map<Value.PyValue, Value.PyValue>(kv))
        ),
        { minLength: 1, maxLength: 6 }
      )
      fc.assert(
        fc.property(shared, fc.array(fc.nat(), { maxLength: 40 }), fc.nat(400), fc.integer({ min: 0, max: 5 }), (pool, picks, fillers, protocol) => {
          // Distinct strings first push the shared values' memo keys past 255 (LONG_BINPUT, LONG_BINGET) as often as not.
          const top = [...Array.from({ length: fillers }, (_, i) => `filler ${i}`), ...picks.map((i) => pool[i % pool.length]!)]
          const back = Effect.runSync(Pickle.load(Effect.runSync(Pickle.dump(top, { protocol })))) as Array<Value.PyValue>
          assert.strictEqual(back.length, top.length)
          for (let i = 0; i < top.length; i++) {
            const first = top.indexOf(top[i]!)
            assert.strictEqual(back[i], back[first], `item ${i} is item ${first}`)
            if (i !== first) continue
            // Distinct objects stay distinct.
            assert.strictEqual(back.indexOf(back[i]!), i)
          }
        }),
        { numRuns: Number(process.env.TORCHWIRE_PROPERTY_RUNS ?? 200) }
      )
    }))

  it("StringHashLog reports repeats exactly when a sequence of strings has them, at any size (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 3, unit: fc.constantFrom("a", "b", "é", "\u{1F600}") }), { maxLength: 400, size: "max" }),
        fc.nat(70_000),
        (strings, distinct) => {
          // Distinct fillers grow the log across its bucket counts (2 to 65,536) before the strings under test.
          const log = new StringHashLog()
          for (let i = 0; i < distinct; i++) log.add(`filler ${i}`)
          for (const s of strings) log.add(s)
          assert.strictEqual(log.hasRepeats(), new Set(strings).size !== strings.length, JSON.stringify(strings))
        }
      ),
      { numRuns: Number(process.env.TORCHWIRE_PROPERTY_RUNS ?? 100) }
    )
  })

  it("decodeUtf8At logs the string it decodes as StringHashLog.add logs it, ASCII or not, short or long (property)", () => {
    // The unpickler hashes short ASCII strings from their bytes while decoding them, and every other string from its
    // char codes: equal strings made by different opcodes (BINUNICODE, UNICODE, BINSTRING...) must hash alike.
    const text = fc.string({ maxLength: 40, unit: fc.constantFrom("a", "Z", "0", "é", "\u{1F600}") })
    fc.assert(
      fc.property(text, text, (s, t) => {
        const log = new StringHashLog()
        const bytes = new TextEncoder().encode(`..${s}`)
        assert.strictEqual(decodeUtf8At(bytes, 2, bytes.length - 2, log), s)
        log.add(t)
        assert.strictEqual(log.hasRepeats(), s === t, JSON.stringify([s, t]))
      }),
      { numRuns: Number(process.env.TORCHWIRE_PROPERTY_RUNS ?? 200) }
    )
  })

  it.effect("decodeStream fails with Truncated when the stream stops mid-opcode", () =>
    Effect.gen(function*() {
      const bytes = pk(0x80, 2, "X", 5, 0, 0, 0, "ab")
      const error = yield* Effect.flip(Stream.runDrain(Stream.make(bytes.subarray(0, 3), bytes.subarray(3)).pipe(Pickle.decodeStream())))
      assert.strictEqual(error._tag === "PickleError" && error.reason, "Truncated")
      assert.strictEqual(error.offset, 2)
    }))
})
