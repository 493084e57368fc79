/**
 * What an operator should read for a failed connection, decided on Node's error codes (never on
 * message text): socket errors, DNS, and the TLS verification failures that have a known fix.
 */
export function describeNetworkError(error: unknown): string {
  const err = error as NodeJS.ErrnoException;
  switch (err.code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ECONNRESET":
      return "connection reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `host name does not resolve (${err.code})`;
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return `network unreachable (${err.code})`;
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
      return `TLS certificate not trusted (${err.code}); set CW_AGENT_CA_FILE to Connectware's CA`;
    case "CERT_HAS_EXPIRED":
    case "CERT_NOT_YET_VALID":
      return `TLS certificate ${err.code === "CERT_HAS_EXPIRED" ? "expired" : "not yet valid"}; check the system clock`;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "TLS certificate does not match the host name";
  }
  return `${err.code ? `${err.code} ` : ""}${err.message ?? String(error)}`.slice(0, 300);
}
