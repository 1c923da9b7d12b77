// PostgreSQL LISTEN/NOTIFY bus: every replica listens on one channel with a dedicated
// connection (reconnecting with backoff); publishing is a pg_notify on the shared pool. This
// replica's own subscribers are served at once, in process; its own echo is skipped.

import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EventBus } from '../domain/ports.js';
import { MemoryBus } from './memory-bus.js';

const CHANNEL = 'lash_bus';

export class PgBus implements EventBus {
  private readonly local = new MemoryBus();
  private client?: pg.Client;
  private closed = false;
  private ready: Promise<void>;
  /** Marks this process's messages so their echo from PostgreSQL is not delivered twice. */
  private readonly origin = randomBytes(6).toString('hex');

  constructor(
    private readonly url: string,
    private readonly notify: (payload: string) => Promise<void>,
    private readonly log: Logger,
  ) {
    this.ready = this.connect(0);
  }

  /** Resolves once the listener is connected (first attempt). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  private async connect(attempt: number): Promise<void> {
    if (this.closed) return;
    const client = new pg.Client({ connectionString: this.url });
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      try {
        const { t, p, o } = JSON.parse(msg.payload) as { t: string; p: Record<string, unknown>; o?: string };
        if (o !== this.origin) void this.local.publish(t, p);
      } catch (err) {
        this.log.warn({ err }, 'ignoring malformed bus message');
      }
    });
    const retry = () => {
      if (this.closed) return;
      const delay = Math.min(5000, 100 * 2 ** Math.min(attempt, 6));
      this.log.warn({ delay }, 'bus listener disconnected; reconnecting');
      setTimeout(() => void this.connect(attempt + 1), delay).unref();
    };
    client.on('error', () => {});
    client.on('end', () => {
      if (this.client === client) retry();
    });
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
      this.client = client;
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'bus listener could not connect');
      await client.end().catch(() => {});
      retry();
    }
  }

  async publish(topic: string, payload: Record<string, unknown>): Promise<void> {
    void this.local.publish(topic, payload);
    await this.notify(JSON.stringify({ t: topic, p: payload, o: this.origin }));
  }

  subscribe(topic: string, handler: (p: Record<string, unknown>) => void): () => void {
    return this.local.subscribe(topic, handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => {});
    await this.local.close();
  }
}

/** The channel; messages on it are JSON `{ t: topic, p: payload, o?: origin }` (DbFeedStore writes `feed` ones, without origin, in SQL). */
export const BUS_CHANNEL = CHANNEL;
