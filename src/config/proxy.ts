import { BlockList, isIP } from "node:net";
import { ConfigError, type Env } from "./config-error.js";

/**
 * The HTTP(S) proxy of the registry requests, from the standard variables read as curl reads them
 * (curl(1), ENVIRONMENT; CURLOPT_NOPROXY): `https_proxy` / `HTTPS_PROXY` for an https:// target,
 * `http_proxy` / `HTTP_PROXY` for an http:// one, then `all_proxy` / `ALL_PROXY`, the lowercase name
 * first; `no_proxy` / `NO_PROXY` lists the hosts reached directly. These are not cw-agent settings:
 * a gateway's other tools read the same variables.
 */

/**
 * A proxy from one of the variables. Its user name and password are kept out of every enumerable
 * field (so a config that is printed or serialized never carries them) and out of `url`, which is
 * what the tunnel library gets: they only leave as the Proxy-Authorization header.
 */
export class HttpProxy {
  readonly #authorization: string | undefined;

  constructor(
    /** The proxy URL without user name, password, path or query. */
    readonly url: URL,
    /** The variable it came from, e.g. "HTTPS_PROXY". */
    readonly variable: string,
    credentials: { username: string; password: string } | undefined,
  ) {
    this.#authorization =
      credentials === undefined
        ? undefined
        : `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64")}`;
  }

  /** host:port, the way messages name the proxy. */
  get address(): string {
    return `${this.url.hostname}:${this.port}`;
  }

  get host(): string {
    return this.url.hostname.replace(/^\[|\]$/g, "");
  }

  get port(): number {
    return this.url.port === "" ? (this.url.protocol === "https:" ? 443 : 80) : Number(this.url.port);
  }

  get hasCredentials(): boolean {
    return this.#authorization !== undefined;
  }

  /** The headers of every CONNECT to this proxy. */
  connectHeaders(): Record<string, string> {
    return this.#authorization === undefined ? {} : { "Proxy-Authorization": this.#authorization };
  }
}

export type ProxyRoute =
  /** No proxy variable applies to the target's scheme. */
  | { readonly kind: "direct"; readonly variables: readonly string[] }
  /** A proxy is set, but a NO_PROXY entry names the target. */
  | {
      readonly kind: "bypassed";
      readonly proxyVariable: string;
      readonly variable: string;
      readonly entry: string;
    }
  | { readonly kind: "proxy"; readonly proxy: HttpProxy };

const PROXY_RULE =
  "a proxy URL such as http://proxy.example:3128 or http://USER:PASSWORD@proxy.example:3128 (http:// or https://; SOCKS is not supported)";

/** The variables that name a proxy for `protocol` ("http:" or "https:"), in the order they are read. */
export function proxyVariables(protocol: string): string[] {
  const scheme = protocol === "http:" ? "http" : "https";
  return [`${scheme}_proxy`, `${scheme}_proxy`.toUpperCase(), "all_proxy", "ALL_PROXY"];
}

/**
 * How requests to `target` go out. Throws ConfigError naming the variable when the proxy that
 * applies is not a usable URL; its value is shown without the user name and password.
 */
export function proxyRoute(target: URL, env: Env): ProxyRoute {
  const variables = proxyVariables(target.protocol);
  const proxyVariable = variables.find((name) => nonEmpty(env[name]) !== undefined);
  if (proxyVariable === undefined) return { kind: "direct", variables };
  const noProxyVariable = ["no_proxy", "NO_PROXY"].find((name) => nonEmpty(env[name]) !== undefined);
  if (noProxyVariable !== undefined) {
    const entry = noProxyMatch(nonEmpty(env[noProxyVariable]) ?? "", target);
    if (entry !== undefined) return { kind: "bypassed", proxyVariable, variable: noProxyVariable, entry };
  }
  return { kind: "proxy", proxy: parseProxy(proxyVariable, nonEmpty(env[proxyVariable]) ?? "") };
}

export function parseProxy(variable: string, value: string): HttpProxy {
  const invalid = () => new ConfigError(variable, withoutCredentials(value), PROXY_RULE);
  // curl takes a value without scheme as an http:// proxy.
  const text = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value) ? value : `http://${value}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid();
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "") throw invalid();
  let credentials: { username: string; password: string } | undefined;
  if (url.username !== "" || url.password !== "") {
    try {
      credentials = {
        username: decodeURIComponent(url.username),
        password: decodeURIComponent(url.password),
      };
    } catch {
      throw invalid();
    }
  }
  return new HttpProxy(new URL(`${url.protocol}//${url.host}`), variable, credentials);
}

/** A proxy value as it may be shown: anything between the scheme and the last '@' is hidden. */
export function withoutCredentials(value: string): string {
  const at = value.lastIndexOf("@");
  if (at < 0) return value;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value)?.[0] ?? "";
  return `${scheme}***${value.slice(at)}`;
}

/**
 * The NO_PROXY entry (as written) that names `target`, if any. Entries are separated by commas or
 * white space and compared without case:
 * - `*` matches every host;
 * - a name matches itself and its subdomains; a leading `.` or `*.` changes nothing (curl 7.86+);
 * - an IP address matches only that address, a CIDR range (`10.0.0.0/8`) the addresses in it;
 * - `NAME:PORT` (`[IPv6]:PORT`) matches only requests to that port.
 */
export function noProxyMatch(list: string, target: URL): string | undefined {
  const host = target.hostname
    .replace(/^\[|\]$/g, "")
    .toLowerCase()
    .replace(/\.$/, "");
  const port = target.port === "" ? (target.protocol === "http:" ? 80 : 443) : Number(target.port);
  const hostIsIp = isIP(host);
  for (const entry of list.split(/[\s,]+/)) {
    if (entry === "") continue;
    if (entry === "*") return entry;
    const parsed = parseEntry(entry.toLowerCase());
    if (parsed === undefined || (parsed.port !== undefined && parsed.port !== port)) continue;
    const name = parsed.host;
    if (hostIsIp !== 0) {
      if (inRange(name, host, hostIsIp)) return entry;
      continue;
    }
    const domain = name.replace(/^\*?\./, "").replace(/\.$/, "");
    if (domain !== "" && (host === domain || host.endsWith(`.${domain}`))) return entry;
  }
  return undefined;
}

function parseEntry(entry: string): { host: string; port?: number } | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed?.[1] !== undefined) {
    return bracketed[2] === undefined
      ? { host: bracketed[1] }
      : { host: bracketed[1], port: Number(bracketed[2]) };
  }
  // More than one ':' without brackets: an IPv6 address (or range), never with a port.
  if (entry.indexOf(":") !== entry.lastIndexOf(":")) return { host: entry };
  const withPort = /^(.+):(\d+)$/.exec(entry);
  if (withPort?.[1] !== undefined) return { host: withPort[1], port: Number(withPort[2]) };
  return entry.includes(":") ? undefined : { host: entry };
}

/** Whether `address` (of IP `family`) is the address `range` or within the CIDR range `range`. */
function inRange(range: string, address: string, family: number): boolean {
  const [network = "", prefixText] = range.split("/", 2);
  if (isIP(network) !== family) return false;
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : -1;
  if (prefix < 0 || prefix > bits) return false;
  const type = family === 4 ? "ipv4" : "ipv6";
  const list = new BlockList();
  list.addSubnet(network, prefix, type);
  return list.check(address, type);
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed ? trimmed : undefined;
}
