export { AgentNotRunningError, sendControlRequest } from "./client.js";
export type { ControlAnswer, ControlRequest, LiveStatus } from "./protocol.js";
export { CONTROL_SOCKET_FILE, controlSocketPath, MAX_IDENTIFY_SECONDS } from "./protocol.js";
export { ControlServer, ControlSocketInUseError, type ControlTarget } from "./server.js";
