/**
 * A long-lived part of the running agent (storage, indicators, control socket, the agent loop...):
 * the one interface `runAgent` starts and stops them through.
 */
export interface Part {
  readonly name: string;
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/**
 * Starts parts in order and stops exactly the ones that were started, in reverse order, whenever
 * `stop()` is called: before, during or after start-up. A part whose start is in flight when the
 * stop comes is allowed to finish starting and is then stopped with the others.
 */
export class Parts {
  private readonly started: Part[] = [];
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly parts: readonly Part[],
    private readonly onStopError: (part: Part, error: unknown) => void,
  ) {}

  /**
   * Resolves true once every part started, false when a stop came first. A part that fails to start
   * rejects the promise; what was started before it is stopped by the caller's `stop()`.
   */
  async start(): Promise<boolean> {
    for (const part of this.parts) {
      if (this.stopping !== undefined) return false;
      this.starting = Promise.resolve(part.start());
      try {
        await this.starting;
      } finally {
        this.starting = undefined;
      }
      this.started.push(part);
    }
    return this.stopping === undefined;
  }

  get stopRequested(): boolean {
    return this.stopping !== undefined;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.starting?.catch(() => undefined);
      for (const part of this.started.splice(0).reverse()) {
        try {
          await part.stop();
        } catch (error) {
          this.onStopError(part, error);
        }
      }
    })();
    return this.stopping;
  }
}
