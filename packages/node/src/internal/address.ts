/**
 * `HOST:PORT` addresses, apart from the sockets that use them (so the CLI
 * can check its options without loading the socket layer).
 *
 * @internal
 */

/** Where to connect or listen. @internal */
export interface Address {
  readonly host: string
  readonly port: number
}

/** Parses `HOST:PORT` (IPv6 hosts in brackets: `[::1]:9000`). @internal */
export const parseAddress = (text: string): Address | undefined => {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text)
  const port = m === null ? NaN : Number(m[3])
  return m === null || port > 65535 ? undefined : { host: m[1] ?? m[2]!, port }
}
