// The reads of one file between the reader, which runs ahead while parsers are free, and the
// committer, which stores them in order: a queue whose either side can wait for the other.
export class ReadQueue<T> {
  private readonly items: T[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;

  get length(): number {
    return this.items.length;
  }

  /** No more reads will come: the reader is done, or the committer gave up. */
  get closed(): boolean {
    return this.ended;
  }

  push(item: T): void {
    this.items.push(item);
    this.notify();
  }

  shift(): T | undefined {
    const item = this.items.shift();
    if (item !== undefined) this.notify();
    return item;
  }

  close(): void {
    this.ended = true;
    this.notify();
  }

  /** Whatever is still queued, taken out. */
  drain(): T[] {
    return this.items.splice(0);
  }

  /** Resolves at the next change: a push, a shift, a close or a notify(). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
