import { pino } from "pino";
import type { Logger } from "../../../src/logging/logger.js";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** A real pino logger writing parsed lines into an array. */
export function memoryLogger(): { logger: Logger; lines: LogLine[]; warnings: () => LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: "debug" },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  return { logger, lines, warnings: () => lines.filter((line) => line.level === 40) };
}
