import type { MqttPermission } from "./protocol.js";

/**
 * Whether a concrete topic matches an MQTT topic filter. Wildcards in the first level do not
 * match topics that start with `$` (MQTT 3.1.1, 4.7.2).
 */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  const filterLevels = filter.split("/");
  const topicLevels = topic.split("/");
  if (topic.startsWith("$") && (filterLevels[0] === "+" || filterLevels[0] === "#")) {
    return false;
  }
  for (let index = 0; index < filterLevels.length; index++) {
    const level = filterLevels[index];
    if (level === "#") {
      return true;
    }
    if (index >= topicLevels.length) {
      return false;
    }
    if (level !== "+" && level !== topicLevels[index]) {
      return false;
    }
  }
  return filterLevels.length === topicLevels.length;
}

/**
 * Whether every topic a subscription filter can match is also matched by the permission filter,
 * so that subscribing to it cannot leak topics outside the permission.
 */
export function filterCoversFilter(permissionFilter: string, subscriptionFilter: string): boolean {
  const permissionLevels = permissionFilter.split("/");
  const subscriptionLevels = subscriptionFilter.split("/");
  const permissionStartsWithWildcard = permissionLevels[0] === "+" || permissionLevels[0] === "#";
  if (subscriptionFilter.startsWith("$") && permissionStartsWithWildcard) {
    return false;
  }
  for (let index = 0; index < permissionLevels.length; index++) {
    const permissionLevel = permissionLevels[index];
    if (permissionLevel === "#") {
      return true;
    }
    if (index >= subscriptionLevels.length) {
      return false;
    }
    const subscriptionLevel = subscriptionLevels[index];
    if (subscriptionLevel === "#") {
      return false;
    }
    if (permissionLevel === "+") {
      continue;
    }
    if (subscriptionLevel === "+" || subscriptionLevel !== permissionLevel) {
      return false;
    }
  }
  return permissionLevels.length === subscriptionLevels.length;
}

export function mayPublish(permissions: readonly MqttPermission[], topic: string): boolean {
  return permissions.some(
    (permission) =>
      permission.resourceType === "mqtt" &&
      (permission.operation === "write" || permission.operation === "readWrite") &&
      topicMatchesFilter(permission.resource, topic),
  );
}

export function maySubscribe(permissions: readonly MqttPermission[], subscriptionFilter: string): boolean {
  return permissions.some(
    (permission) =>
      permission.resourceType === "mqtt" &&
      (permission.operation === "read" || permission.operation === "readWrite") &&
      filterCoversFilter(permission.resource, subscriptionFilter),
  );
}
