/** Fragments of a secret at least this long are removed: 6 of 32 characters leave 156 bits unknown. */
export const MIN_SECRET_FRAGMENT = 6;
const REDACTED = "[redacted]";

/**
 * Removes the secret from a text received from a peer, and every fragment of it of
 * `MIN_SECRET_FRAGMENT` or more characters: a server or proxy that echoes the request body may have
 * cut it anywhere, and a text we shorten later must not start or end in the middle of the secret.
 * Scrub before cutting, never after.
 */
export function scrubSecret(text: string, secret: string, minFragment = MIN_SECRET_FRAGMENT): string {
  if (secret.length < minFragment || text.length < minFragment) return text;
  const fragments = new Set<string>();
  for (let start = 0; start + minFragment <= secret.length; start++) {
    fragments.add(secret.slice(start, start + minFragment));
  }
  let result = "";
  let index = 0;
  while (index < text.length) {
    if (!fragments.has(text.slice(index, index + minFragment))) {
      result += text[index];
      index++;
      continue;
    }
    let end = index + minFragment;
    while (end < text.length && secret.includes(text.slice(index, end + 1))) end++;
    result += REDACTED;
    index = end;
  }
  return result;
}

/** The longest run of characters `text` shares with `secret`; for checks that nothing leaked. */
export function longestSharedRun(text: string, secret: string): number {
  let longest = 0;
  for (let start = 0; start < text.length; start++) {
    let length = longest + 1;
    while (start + length <= text.length && secret.includes(text.slice(start, start + length))) {
      longest = length;
      length++;
    }
  }
  return longest;
}
