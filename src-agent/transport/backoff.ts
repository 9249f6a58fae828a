// Retry delays of protocol v1: 1 s doubling to a 5 minute cap, with jitter so that a
// fleet coming back after an outage does not reconnect in step.
export class Backoff {
  private failures = 0;

  constructor(
    private readonly baseMs = 1000,
    private readonly capMs = 5 * 60_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const ceiling = Math.min(this.capMs, this.baseMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.failures = 0;
  }
}
