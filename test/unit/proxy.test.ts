import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/config.js";
import { ConfigError } from "../../src/config/config-error.js";
import { noProxyMatch, type ProxyRoute, proxyRoute, withoutCredentials } from "../../src/config/proxy.js";
import { loadSettings } from "../../src/settings.js";

const HTTPS = new URL("https://connectware.plant.example");

function via(route: ProxyRoute): string | undefined {
  return route.kind === "proxy" ? `${route.proxy.address} ${route.proxy.variable}` : undefined;
}

describe("proxyRoute: which variable applies", () => {
  it("is direct without any proxy variable, and names what it looked for", () => {
    expect(proxyRoute(HTTPS, {})).toEqual({
      kind: "direct",
      variables: ["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
    });
    expect(proxyRoute(new URL("http://cw.local"), { HTTPS_PROXY: "http://p:1" })).toMatchObject({
      kind: "direct",
      variables: ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
    });
  });

  it("takes the scheme's variable, lowercase before uppercase, then all_proxy / ALL_PROXY", () => {
    expect(via(proxyRoute(HTTPS, { HTTPS_PROXY: "http://upper:3128" }))).toBe("upper:3128 HTTPS_PROXY");
    expect(
      via(proxyRoute(HTTPS, { HTTPS_PROXY: "http://upper:3128", https_proxy: "http://lower:3128" })),
    ).toBe("lower:3128 https_proxy");
    // An empty lowercase variable counts as unset.
    expect(via(proxyRoute(HTTPS, { https_proxy: " ", HTTPS_PROXY: "http://upper:3128" }))).toBe(
      "upper:3128 HTTPS_PROXY",
    );
    expect(via(proxyRoute(HTTPS, { ALL_PROXY: "http://all:8080", HTTP_PROXY: "http://plain:1" }))).toBe(
      "all:8080 ALL_PROXY",
    );
    expect(
      via(proxyRoute(new URL("http://cw.local:8080"), { HTTP_PROXY: "http://plain:3128", HTTPS_PROXY: "x" })),
    ).toBe("plain:3128 HTTP_PROXY");
  });

  it("accepts a proxy without scheme (http://) and defaults the port to the scheme's", () => {
    expect(via(proxyRoute(HTTPS, { HTTPS_PROXY: "proxy.plant:3128" }))).toBe("proxy.plant:3128 HTTPS_PROXY");
    expect(via(proxyRoute(HTTPS, { HTTPS_PROXY: "http://proxy.plant/" }))).toBe("proxy.plant:80 HTTPS_PROXY");
    expect(via(proxyRoute(HTTPS, { HTTPS_PROXY: "https://proxy.plant" }))).toBe(
      "proxy.plant:443 HTTPS_PROXY",
    );
    expect(via(proxyRoute(HTTPS, { HTTPS_PROXY: "http://[::1]:3128" }))).toBe("[::1]:3128 HTTPS_PROXY");
  });

  it("keeps user name and password out of the URL, the address and any serialization", () => {
    const route = proxyRoute(HTTPS, { HTTPS_PROXY: "http://plant%40user:s3cr%2Ft@proxy.plant:3128/" });
    if (route.kind !== "proxy") throw new Error("expected a proxy");
    const { proxy } = route;
    expect(proxy.url.href).toBe("http://proxy.plant:3128/");
    expect(proxy.hasCredentials).toBe(true);
    expect(proxy.connectHeaders()).toEqual({
      "Proxy-Authorization": `Basic ${Buffer.from("plant@user:s3cr/t").toString("base64")}`,
    });
    const config = loadConfig({
      CYBUS_AGENT_NAME: "gw-1",
      CYBUS_MQTT_HOST: "cw.plant",
      HTTPS_PROXY: "http://plant-user:s3cr3t-proxy@proxy.plant:3128",
    });
    const printed = JSON.stringify(config);
    expect(printed).toContain("proxy.plant:3128");
    expect(printed).not.toMatch(/s3cr3t-proxy|plant-user/);
  });

  it.each([["socks5://proxy.plant:1080"], ["http://"], ["ftp://proxy.plant"], ["http://user:pa ss@[bad"]])(
    "rejects %s as invalid configuration naming the variable, never showing a password",
    (value) => {
      const env = { CYBUS_AGENT_NAME: "gw-1", CYBUS_MQTT_HOST: "cw.plant", HTTPS_PROXY: value };
      expect(() => loadConfig(env)).toThrow(ConfigError);
      try {
        loadSettings(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).variable).toBe("HTTPS_PROXY");
        expect((error as ConfigError).message).toContain("proxy URL");
        expect((error as ConfigError).message).not.toContain("pa ss");
        return;
      }
      throw new Error("expected a ConfigError");
    },
  );

  it("shows a proxy value without what stands between the scheme and the last '@'", () => {
    expect(withoutCredentials("http://u:p@ss@proxy:3128")).toBe("http://***@proxy:3128");
    expect(withoutCredentials("u:p@proxy:3128")).toBe("***@proxy:3128");
    expect(withoutCredentials("http://proxy:3128")).toBe("http://proxy:3128");
  });

  it("a matching NO_PROXY bypasses the proxy and says which entry matched (lowercase no_proxy first)", () => {
    expect(
      proxyRoute(HTTPS, { HTTPS_PROXY: "http://p:3128", NO_PROXY: "localhost, .plant.example" }),
    ).toEqual({
      kind: "bypassed",
      proxyVariable: "HTTPS_PROXY",
      variable: "NO_PROXY",
      entry: ".plant.example",
    });
    expect(
      proxyRoute(HTTPS, { HTTPS_PROXY: "http://p:3128", no_proxy: "other", NO_PROXY: "*" }),
    ).toMatchObject({
      kind: "proxy",
    });
    // A bypassed proxy is not used, so its value is not judged either.
    expect(proxyRoute(HTTPS, { HTTPS_PROXY: "socks5://p", NO_PROXY: "*" })).toMatchObject({
      kind: "bypassed",
    });
  });
});

describe("noProxyMatch", () => {
  const match = (list: string, url: string) => noProxyMatch(list, new URL(url));

  it("* matches everything", () => {
    expect(match("*", "https://anything.example")).toBe("*");
    expect(match("a.example,*", "https://10.1.2.3")).toBe("*");
  });

  it("a name matches itself and its subdomains, with or without a leading '.' or '*.'; never a mere suffix", () => {
    for (const entry of ["plant.example", ".plant.example", "*.plant.example", "PLANT.example."]) {
      expect(match(entry, "https://plant.example"), entry).toBe(entry);
      expect(match(entry, "https://cw.plant.example:8443"), entry).toBe(entry);
      expect(match(entry, "https://otherplant.example"), entry).toBeUndefined();
    }
    expect(match("cw.plant.example", "https://plant.example")).toBeUndefined();
  });

  it("NAME:PORT matches only that port (the scheme's default when the URL has none)", () => {
    expect(match("cw.plant:8443", "https://cw.plant:8443")).toBe("cw.plant:8443");
    expect(match("cw.plant:8443", "https://cw.plant")).toBeUndefined();
    expect(match("cw.plant:443", "https://cw.plant")).toBe("cw.plant:443");
    expect(match("cw.plant:80", "http://cw.plant")).toBe("cw.plant:80");
  });

  it("IP addresses match exactly or by CIDR range, IPv6 with or without brackets", () => {
    expect(match("10.0.0.7", "https://10.0.0.7")).toBe("10.0.0.7");
    expect(match("0.0.7", "https://10.0.0.7")).toBeUndefined();
    expect(match("10.0.0.0/8", "https://10.20.30.40:8443")).toBe("10.0.0.0/8");
    expect(match("10.0.0.0/8", "https://11.0.0.1")).toBeUndefined();
    expect(match("10.0.0.0/8", "https://ten.example")).toBeUndefined();
    expect(match("::1", "https://[::1]:8443")).toBe("::1");
    expect(match("[::1]:8443", "https://[::1]:8443")).toBe("[::1]:8443");
    expect(match("[::1]:443", "https://[::1]:8443")).toBeUndefined();
    expect(match("fd00::/8", "https://[fd12::5]")).toBe("fd00::/8");
    expect(match("127.0.0.1", "https://localhost")).toBeUndefined();
  });

  it("ignores empty entries and separates by commas and white space", () => {
    expect(match(" , ,a.example  b.example,,", "https://b.example")).toBe("b.example");
    expect(match("", "https://b.example")).toBeUndefined();
  });
});
