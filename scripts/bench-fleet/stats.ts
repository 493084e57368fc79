/** Events per 1 s bucket from `origin` (ms) on, empty buckets included. */
export function perSecond(timesMs: readonly number[], origin: number): number[] {
  const buckets: number[] = [];
  for (const at of timesMs) {
    const index = Math.max(0, Math.floor((at - origin) / 1000));
    while (buckets.length <= index) buckets.push(0);
    buckets[index] = (buckets[index] ?? 0) + 1;
  }
  return buckets;
}

export function peak(buckets: readonly number[]): number {
  return buckets.reduce((max, count) => Math.max(max, count), 0);
}

export function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

export function mebibytes(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}
