// In-process bus for the embedded engine (one process, so no NOTIFY is needed).

import type { EventBus } from '../domain/ports.js';

export class MemoryBus implements EventBus {
  private readonly handlers = new Map<string, Set<(p: Record<string, unknown>) => void>>();

  async publish(topic: string, payload: Record<string, unknown>): Promise<void> {
    // Deliver asynchronously, like NOTIFY, so publishers never re-enter their own handlers.
    queueMicrotask(() => this.handlers.get(topic)?.forEach((h) => h(payload)));
  }

  subscribe(topic: string, handler: (p: Record<string, unknown>) => void): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
