/**
 * Resolution of Python globals to modelled values. Only plain-data
 * constructors are modelled; everything else stays an opaque `PyGlobal`.
 *
 * @internal
 */
import { PickleError } from "../../Errors.js"
import {
  OrderedDict,
  PyByteArray,
  PyComplex,
  PyFloat,
  PyFrozenSet,
  PyGlobal,
  PyObject,
  PySet,
  PyTuple,
  type PyValue
} from "../../Value.js"
import { setTokens, tokensOf } from "./identity.js"
import { CallableGlobal, type CallSite } from "./hooks.js"

/** Python 2 module names that Python 3 renamed (what `pickle` applies with fix_imports). @internal */
const IMPORT_MAPPING: Record<string, string> = {
  __builtin__: "builtins", copy_reg: "copyreg", Queue: "queue", SocketServer: "socketserver", ConfigParser: "configparser",
  repr: "reprlib", tkFileDialog: "tkinter.filedialog", tkSimpleDialog: "tkinter.simpledialog",
  tkColorChooser: "tkinter.colorchooser", tkCommonDialog: "tkinter.commondialog", Dialog: "tkinter.dialog",
  Tkdnd: "tkinter.dnd", tkFont: "tkinter.font", tkMessageBox: "tkinter.messagebox", ScrolledText: "tkinter.scrolledtext",
  Tkconstants: "tkinter.constants", Tix: "tkinter.tix", ttk: "tkinter.ttk", Tkinter: "tkinter", markupbase: "_markupbase",
  _winreg: "winreg", thread: "_thread", dummy_thread: "_dummy_thread", dbhash: "dbm.bsd", dumbdbm: "dbm.dumb",
  dbm: "dbm.ndbm", gdbm: "dbm.gnu", xmlrpclib: "xmlrpc.client", SimpleXMLRPCServer: "xmlrpc.server", httplib: "http.client",
  htmlentitydefs: "html.entities", HTMLParser: "html.parser", Cookie: "http.cookies", cookielib: "http.cookiejar",
  BaseHTTPServer: "http.server", "test.test_support": "test.support", commands: "subprocess", urlparse: "urllib.parse",
  robotparser: "urllib.robotparser", urllib2: "urllib.request", anydbm: "dbm", _abcoll: "collections.abc", cPickle: "pickle",
  _elementtree: "xml.etree.ElementTree", FileDialog: "tkinter.filedialog", SimpleDialog: "tkinter.simpledialog",
  DocXMLRPCServer: "xmlrpc.server", SimpleHTTPServer: "http.server", CGIHTTPServer: "http.server", UserDict: "collections",
  UserList: "collections", UserString: "collections", whichdb: "dbm", StringIO: "io", cStringIO: "io", exceptions: "builtins"
}

/** Python 2 (module, name) pairs that Python 3 renamed. @internal */
const NAME_MAPPING: Record<string, readonly [string, string]> = {
  "__builtin__ unicode": ["builtins", "str"],
  "__builtin__ long": ["builtins", "int"],
  "__builtin__ basestring": ["builtins", "str"],
  "__builtin__ xrange": ["builtins", "range"],
  "__builtin__ reduce": ["functools", "reduce"],
  "__builtin__ intern": ["sys", "intern"],
  "__builtin__ unichr": ["builtins", "chr"],
  "__builtin__ raw_input": ["builtins", "input"],
  "__builtin__ execfile": ["builtins", "exec"],
  "UserDict UserDict": ["collections", "UserDict"],
  "UserList UserList": ["collections", "UserList"],
  "UserString UserString": ["collections", "UserString"]
}

/**
 * Applies Python's 2→3 name mapping (what `fix_imports` does on load).
 *
 * @internal
 */
export const translateGlobal = (module: string, name: string): readonly [string, string] =>
  NAME_MAPPING[`${module} ${name}`] ?? [IMPORT_MAPPING[module] ?? module, name]

/** A `PickleError(BadValue)` at a call site. @internal */
export const badValue = (site: CallSite, detail: string): PickleError =>
  new PickleError({ reason: "BadValue", offset: site.offset, detail, ...(site.record === undefined ? {} : { record: site.record }) })

/** Items of a list, tuple, set or frozenset argument. @internal */
export const iterableItems = (v: PyValue | undefined, site: CallSite): ReadonlyArray<PyValue> => {
  if (v === undefined || v === null) return []
  if (Array.isArray(v)) return v
  if (v instanceof PyTuple || v instanceof PySet || v instanceof PyFrozenSet) return v.items
  throw badValue(site, "expected an iterable")
}

/** An int or float argument as a number. @internal */
export const toNumber = (v: PyValue | undefined, site: CallSite, what: string): number => {
  if (typeof v === "number") return v
  if (typeof v === "boolean") return v ? 1 : 0
  if (typeof v === "bigint") return Number(v)
  if (v instanceof PyFloat) return v.value
  throw badValue(site, `${what} must be a number`)
}

const encodeText = (text: string, encoding: string, site: CallSite): Uint8Array => {
  const enc = encoding.toLowerCase().replace(/_/g, "-")
  if (enc === "latin1" || enc === "latin-1" || enc === "iso-8859-1" || enc === "l1") {
    const out = new Uint8Array(text.length)
    for (let i = 0; i < text.length; i++) {
      const cp = text.charCodeAt(i)
      if (cp > 255) throw badValue(site, "latin-1 cannot encode a character above U+00FF")
      out[i] = cp
    }
    return out
  }
  if (enc === "utf-8" || enc === "utf8") return new TextEncoder().encode(text)
  if (enc === "ascii") return encodeText(text, "latin1", site)
  throw badValue(site, `unsupported encoding ${encoding}`)
}

const toBytes = (args: ReadonlyArray<PyValue>, site: CallSite): Uint8Array => {
  const [a, enc] = args
  if (a === undefined) return new Uint8Array(0)
  if (a instanceof Uint8Array) return a.slice()
  if (a instanceof PyByteArray) return a.bytes.slice()
  if (typeof a === "string") return encodeText(a, typeof enc === "string" ? enc : "utf-8", site)
  if (typeof a === "number" && a >= 0 && a <= 1 << 20) return new Uint8Array(a)
  const items = iterableItems(a, site)
  return Uint8Array.from(items, (i) => toNumber(i, site, "byte"))
}

/** A copy of an argument's items that keeps their string identities (identity.ts). */
const copyItems = (items: ReadonlyArray<PyValue>): Array<PyValue> => {
  const out = [...items]
  setTokens(out, tokensOf(items) ?? [])
  return out
}

const builtins: ReadonlyMap<string, CallableGlobal> = new Map(
  [
    new CallableGlobal("collections", "OrderedDict", (args, site) => {
      const d = new OrderedDict()
      for (const pair of iterableItems(args[0], site)) {
        const kv = iterableItems(pair, site)
        if (kv.length !== 2) throw badValue(site, "OrderedDict items must be pairs")
        d.set(kv[0]!, kv[1]!)
      }
      return d
    }),
    new CallableGlobal("builtins", "set", (args, site) => new PySet(copyItems(iterableItems(args[0], site)))),
    new CallableGlobal("builtins", "frozenset", (args, site) => new PyFrozenSet(copyItems(iterableItems(args[0], site)))),
    new CallableGlobal("builtins", "bytearray", (args, site) => new PyByteArray(toBytes(args, site))),
    new CallableGlobal("builtins", "bytes", (args, site) => toBytes(args, site)),
    new CallableGlobal("builtins", "complex", (args, site) =>
      new PyComplex(args[0] === undefined ? 0 : toNumber(args[0], site, "real part"), args[1] === undefined ? 0 : toNumber(args[1], site, "imaginary part"))),
    new CallableGlobal("_codecs", "encode", (args, site) => {
      if (typeof args[0] !== "string") throw badValue(site, "_codecs.encode needs a str")
      return encodeText(args[0], typeof args[1] === "string" ? args[1] : "utf-8", site)
    }),
    new CallableGlobal("copyreg", "_reconstructor", (args, site) => {
      const cls = args[0]
      if (!(cls instanceof PyGlobal)) throw badValue(site, "_reconstructor needs a class")
      return new PyObject(cls, [], "newobj")
    })
  ].map((g) => [g.qualifiedName, g])
)

/**
 * Resolves a global to a modelled builtin, or an opaque `PyGlobal`
 * carrying the translated name.
 *
 * @internal
 */
export const pythonGlobals = (module: string, name: string): PyValue => {
  const [m, n] = translateGlobal(module, name)
  return builtins.get(`${m}.${n}`) ?? new PyGlobal(m, n)
}
