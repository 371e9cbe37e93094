/**
 * Open connection pools, so a command can close them all when it ends. Kept apart from http.ts so
 * that closing them does not load the HTTP client into commands that never used it (`--help`).
 */
export interface Closable {
  close(): Promise<void>
}

const open = new Set<Closable>()

export function trackPool(pool: Closable): void {
  open.add(pool)
}

export async function closeAgents(): Promise<void> {
  const all = [...open]
  open.clear()
  await Promise.all(all.map((p) => p.close().catch(() => undefined)))
}
