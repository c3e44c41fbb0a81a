/**
 * The slot after `cursor`, in round-robin order, that `eligible` accepts: slots are tried from `cursor`
 * on, wrapping around once; -1 when none is eligible. The caller keeps the cursor (the returned slot + 1).
 * @example roundRobin(1, 3, (i) => i !== 1) // 2
 */
export function roundRobin(cursor: number, size: number, eligible: (slot: number) => boolean): number {
  if (size <= 0) return -1;
  const start = ((Math.trunc(cursor) % size) + size) % size;
  for (let step = 0; step < size; step++) {
    const slot = (start + step) % size;
    if (eligible(slot)) return slot;
  }
  return -1;
}
