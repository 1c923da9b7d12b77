// GetAttachment over real gRPC, on each engine: an image handed in with a turn reads back byte for
// byte through the session that references it; another tenant (even with a session of the same
// id), another session of the same tenant and an unknown id get NOT_FOUND; bad ids are
// INVALID_ARGUMENT.

import { createHash, randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenSessionRequest } from '../../gen/lash/v1/session_service.js';
import { LashClient } from '../../src/client/lash-client.js';
import type { LashClients } from '../../src/client/promised.js';
import { engines } from '../support/engines.js';
import { fakeModelSuite } from '../support/fake-model-suite.js';
import { clientsAs, identityEnv, tokenFor } from '../support/principals.js';
import { rejection } from '../support/server.js';
import { runTurn } from '../support/turns.js';

/** A 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const hash = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

for (const engine of engines) {
  describe.skipIf(!engine.enabled)(`GetAttachment over gRPC on ${engine.name}`, () => {
    const suite = fakeModelSuite(engine, {
      prefix: 'attachments',
      env: identityEnv,
      server: { clients: (address) => clientsAs(address, 'default', 'default-client') },
      reset: false,
    });
    let acme: LashClients;
    let globex: LashClients;
    beforeAll(() => {
      acme = clientsAs(suite.s.app.address, 'acme', 'alice');
      globex = clientsAs(suite.s.app.address, 'globex', 'mallory');
    });
    afterAll(() => {
      acme?.close();
      globex?.close();
    });

    /** Runs a turn in `sessionId` of `clients` that hands in `images` (id → bytes, as PNG). */
    const withImages = async (clients: LashClients, sessionId: string, images: Record<string, Uint8Array>) => {
      await clients.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId }));
      const t = await runTurn(clients, {
        sessionId,
        input: {
          items: [
            { item: { $case: 'text' as const, value: { text: 'look' } } },
            ...Object.keys(images).map((id) => ({ item: { $case: 'imageRef' as const, value: { id } } })),
          ],
          imageBlobs: Object.fromEntries(Object.entries(images).map(([id, data]) => [id, { data: Buffer.from(data), mimeType: 'image/png' }])),
        },
      });
      expect(t.result?.outcome).toMatchObject({ $case: 'finished' });
    };

    it('returns the bytes and media type of an image the session references, exactly as handed in', async () => {
      // Every byte value, and more than one HTTP/2 frame and one store page of bytes.
      const big = randomBytes(300 * 1024);
      await withImages(acme, 'pics', { tiny: PNG, big });
      // The read view names the attachments; GetAttachment returns them.
      const parts = (await acme.sessions.getReadView({ sessionId: 'pics', pageSize: 0, pageToken: '' })).messages[0]!.parts;
      const ids = parts.flatMap((p) => (p.kind?.$case === 'image' ? [p.kind.value.attachmentId] : []));
      expect(ids).toEqual([hash(PNG), hash(big)]);
      const tiny = await acme.sessions.getAttachment({ sessionId: 'pics', attachmentId: ids[0]!, offset: 0n, length: 0 });
      expect(tiny.mediaType).toBe('image/png');
      expect(Buffer.compare(tiny.data, PNG)).toBe(0);
      const back = await acme.sessions.getAttachment({ sessionId: 'pics', attachmentId: ids[1]!, offset: 0n, length: 0 });
      expect(back.data.length).toBe(big.length);
      expect(Buffer.compare(back.data, big)).toBe(0);
    });

    it('an attachment over 3 MiB is read in ranges, never in one answer past a default client limit', async () => {
      const MiB = 1024 * 1024;
      const large = randomBytes(7 * MiB + 123);
      await withImages(acme, 'large', { big: large });
      const id = hash(large);
      // Asked for whole, it is refused with what to do instead (no 7 MiB answer a default client could not read).
      const whole = await rejection(acme.sessions.getAttachment({ sessionId: 'large', attachmentId: id, offset: 0n, length: 0 }));
      expect([whole.code, whole.reason]).toEqual([status.FAILED_PRECONDITION, 'ATTACHMENT_NEEDS_RANGES']);
      expect(whole.metadata).toMatchObject({ total_bytes: String(large.length), limit_bytes: String(3 * MiB) });
      // Ranges: each answer says the size and where its bytes start; the rest from an offset is fine once it fits.
      const first = await acme.sessions.getAttachment({ sessionId: 'large', attachmentId: id, offset: 0n, length: 3 * MiB });
      expect([first.data.length, first.totalBytes, first.offset]).toEqual([3 * MiB, BigInt(large.length), 0n]);
      expect(Buffer.compare(first.data, large.subarray(0, 3 * MiB))).toBe(0);
      const tail = await acme.sessions.getAttachment({ sessionId: 'large', attachmentId: id, offset: BigInt(6 * MiB), length: 0 });
      expect([tail.data.length, tail.offset]).toEqual([MiB + 123, BigInt(6 * MiB)]);
      expect(Buffer.compare(tail.data, large.subarray(6 * MiB))).toBe(0);
      const end = await acme.sessions.getAttachment({ sessionId: 'large', attachmentId: id, offset: BigInt(large.length), length: 10 });
      expect(end.data.length).toBe(0);
      // Bad ranges: past the end, or more than one answer holds.
      for (const [offset, length, field] of [
        [BigInt(large.length + 1), 0, 'offset'],
        [2n ** 63n, 5, 'offset'],
        [0n, 3 * MiB + 1, 'length'],
      ] as const) {
        const r = await rejection(acme.sessions.getAttachment({ sessionId: 'large', attachmentId: id, offset, length }));
        expect([r.code, r.reason, r.metadata.field]).toEqual([status.INVALID_ARGUMENT, 'ATTACHMENT_RANGE_INVALID', field]);
      }
      // The client library reads it whole, range by range, with a default receive limit.
      const client = new LashClient({ address: suite.s.app.address, token: await tokenFor('acme', 'alice') });
      try {
        const read = await client.readAttachment('large', id);
        expect(read.mediaType).toBe('image/png');
        expect(Buffer.compare(read.data, large)).toBe(0);
        expect(Buffer.compare((await client.readAttachment('large', id)).data, large)).toBe(0);
      } finally {
        client.close();
      }
    });

    it('another tenant, another session and an unknown id get NOT_FOUND; bad ids are INVALID_ARGUMENT', async () => {
      const id = hash(PNG);
      await withImages(acme, 'mine', { a: PNG });
      expect(Buffer.compare((await acme.sessions.getAttachment({ sessionId: 'mine', attachmentId: id, offset: 0n, length: 0 })).data, PNG)).toBe(0);
      // Another tenant: no session of that id → SESSION_NOT_FOUND, as for a session never opened.
      const foreign = await rejection(globex.sessions.getAttachment({ sessionId: 'mine', attachmentId: id, offset: 0n, length: 0 }));
      expect([foreign.code, foreign.reason]).toEqual([status.NOT_FOUND, 'SESSION_NOT_FOUND']);
      // Another tenant with its own session of the same id, without the image: ATTACHMENT_NOT_FOUND.
      await globex.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'mine' }));
      const same = await rejection(globex.sessions.getAttachment({ sessionId: 'mine', attachmentId: id, offset: 0n, length: 0 }));
      expect([same.code, same.reason]).toEqual([status.NOT_FOUND, 'ATTACHMENT_NOT_FOUND']);
      expect(same.metadata).toMatchObject({ session_id: 'mine', attachment_id: id });
      // The same tenant's other session does not reference it either.
      await acme.sessions.openSession(OpenSessionRequest.fromPartial({ sessionId: 'other' }));
      expect((await rejection(acme.sessions.getAttachment({ sessionId: 'other', attachmentId: id, offset: 0n, length: 0 }))).reason).toBe(
        'ATTACHMENT_NOT_FOUND',
      );
      expect((await rejection(acme.sessions.getAttachment({ sessionId: 'mine', attachmentId: 'f'.repeat(64), offset: 0n, length: 0 }))).reason).toBe(
        'ATTACHMENT_NOT_FOUND',
      );
      expect((await rejection(acme.sessions.getAttachment({ sessionId: 'never', attachmentId: id, offset: 0n, length: 0 }))).reason).toBe('SESSION_NOT_FOUND');
      // Bad ids.
      for (const [sessionId, attachmentId, field] of [
        ['', id, 'session_id'],
        ['mine', '', 'attachment_id'],
        ['mine', 'x'.repeat(300), 'attachment_id'],
      ] as const) {
        const r = await rejection(acme.sessions.getAttachment({ sessionId, attachmentId, offset: 0n, length: 0 }));
        expect(r.code).toBe(status.INVALID_ARGUMENT);
        expect(r.metadata.field).toBe(field);
      }
    });
  });
}
