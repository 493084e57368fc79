import { describe, expect, it } from "vitest";
import { validateRegisterBody } from "../../scripts/connectware-sim/protocol.js";
import {
  filterCoversFilter,
  mayPublish,
  maySubscribe,
  topicMatchesFilter,
} from "../../scripts/connectware-sim/topic-match.js";

describe("topicMatchesFilter", () => {
  it.each([
    ["a/b/c", "a/b/c", true],
    ["a/+/c", "a/b/c", true],
    ["a/+", "a/b/c", false],
    ["a/#", "a", true],
    ["a/#", "a/b/c", true],
    ["#", "a/b", true],
    ["+/+", "a/b", true],
    ["+", "a/b", false],
    ["a/b", "a/b/c", false],
    ["a/b/c", "a/b", false],
    ["#", "$SYS/broker", false],
    ["+/broker", "$SYS/broker", false],
    ["$SYS/#", "$SYS/broker", true],
  ])("%s matches %s: %s", (filter, topic, expected) => {
    expect(topicMatchesFilter(filter, topic)).toBe(expected);
  });
});

describe("filterCoversFilter", () => {
  it.each([
    ["a/#", "a/b/+", true],
    ["a/#", "a/#", true],
    ["a/#", "#", false],
    ["a/+", "a/b", true],
    ["a/+", "a/+", true],
    ["a/+", "a/#", false],
    ["a/b", "a/+", false],
    ["a/b", "a/b", true],
    ["#", "+/x", true],
    ["#", "$SYS/#", false],
    ["+/x", "+/x", true],
    ["a/+/c", "a/b/c/d", false],
  ])("permission %s covers subscription %s: %s", (permission, subscription, expected) => {
    expect(filterCoversFilter(permission, subscription)).toBe(expected);
  });
});

describe("permission checks", () => {
  const permissions = [
    { resourceType: "mqtt" as const, resource: "agents/one/#", operation: "readWrite" as const },
    { resourceType: "mqtt" as const, resource: "commands/one", operation: "read" as const },
    { resourceType: "mqtt" as const, resource: "telemetry/+/one", operation: "write" as const },
  ];

  it("allows publishing only with write or readWrite", () => {
    expect(mayPublish(permissions, "agents/one/status")).toBe(true);
    expect(mayPublish(permissions, "telemetry/x/one")).toBe(true);
    expect(mayPublish(permissions, "commands/one")).toBe(false);
    expect(mayPublish(permissions, "agents/two/status")).toBe(false);
  });

  it("allows subscribing only with read or readWrite", () => {
    expect(maySubscribe(permissions, "agents/one/#")).toBe(true);
    expect(maySubscribe(permissions, "commands/one")).toBe(true);
    expect(maySubscribe(permissions, "telemetry/x/one")).toBe(false);
    expect(maySubscribe(permissions, "agents/#")).toBe(false);
  });

  it("allows nothing without permissions", () => {
    expect(mayPublish([], "a")).toBe(false);
    expect(maySubscribe([], "#")).toBe(false);
  });
});

describe("validateRegisterBody", () => {
  it("accepts the documented shape", () => {
    const result = validateRegisterBody({
      username: "agent-1",
      password: "secret",
      context: { pairingId: "abcdef" },
      permissions: [{ resourceType: "mqtt", resource: "a/#", operation: "readWrite" }],
      csr: "-----BEGIN CERTIFICATE REQUEST-----",
    });
    expect(result.ok).toBe(true);
  });

  it.each([
    [[], "body"],
    [{ username: 5, password: "secret" }, "username"],
    [{ username: "ab", password: "secret" }, "username"],
    [{ username: "abc", password: "1234" }, "password"],
    [{ username: "abc", password: 12345 }, "password"],
    [{ username: "abc", password: "12345", context: [] }, "context"],
    [{ username: "abc", password: "12345", permissions: {} }, "permissions"],
    [{ username: "abc", password: "12345", permissions: [{ resourceType: "http" }] }, "permissions"],
    [{ username: "abc", password: "12345", csr: 1 }, "csr"],
  ])("rejects %j naming field %s", (body, field) => {
    const result = validateRegisterBody(body);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.field).toBe(field);
  });
});
