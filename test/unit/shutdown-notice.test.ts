// The shutdown notice of long-lived streams: registrations run once when the shutdown starts, a stream
// that registers during the shutdown is told at once, and ended streams leave no registration behind
// (an observer server running for weeks must not keep one closure per stream it ever served).

import { describe, expect, it } from 'vitest';
import { ShutdownNotice } from '../../src/grpc/shutdown-notice.js';

describe('ShutdownNotice', () => {
  it('runs what open streams registered once, when the shutdown starts; undone registrations are gone', () => {
    const notice = new ShutdownNotice();
    const told: string[] = [];
    notice.on(() => told.push('a'));
    const offB = notice.on(() => told.push('b'));
    for (let i = 0; i < 1000; i++) notice.on(() => told.push('ended'))();
    offB();
    expect(notice.size).toBe(1);
    notice.start();
    notice.start();
    expect(told).toEqual(['a']);
    expect(notice.size).toBe(0);
  });

  it('a stream that registers after the shutdown started is told at once', () => {
    const notice = new ShutdownNotice();
    notice.start();
    const told: string[] = [];
    const off = notice.on(() => told.push('late'));
    expect(told).toEqual(['late']);
    off();
    expect(notice.size).toBe(0);
  });
});
