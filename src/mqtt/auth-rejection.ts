import { loginRejection } from "./client.js";
import { certificateRefusal } from "./client-certificate.js";

/** A CONNACK that refuses the login, or a TLS alert that refuses the client certificate. */
export function isAuthRejection(error: unknown): boolean {
  return loginRejection(error) !== undefined || certificateRefusal(error) !== undefined;
}

/**
 * Decides when rejections are persistent: an unbroken run of at least `count` rejections spanning at
 * least `windowMs`. Any attempt that ends another way (refused, timed out, reset, a successful login)
 * breaks the run: a broker that rejects for a moment at each of its restarts, with minutes of
 * "connection refused" in between, must never make the agent throw away credentials an
 * administrator granted. `now` must be monotonic: a Pi without RTC jumps by hours when NTP syncs,
 * and a wall-clock window would then be "over" after seconds.
 */
export class AuthRejectionTracker {
  private firstAt: number | undefined;
  private consecutive = 0;

  constructor(
    private readonly count: number,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records a rejection; true when the credentials should now be considered rejected for good. */
  record(): boolean {
    const now = this.now();
    this.firstAt ??= now;
    this.consecutive++;
    return this.consecutive >= this.count && now - this.firstAt >= this.windowMs;
  }

  /** An attempt that ended any other way than a rejection: the run of rejections is over. */
  reset(): void {
    this.firstAt = undefined;
    this.consecutive = 0;
  }

  get rejections(): number {
    return this.consecutive;
  }
}
