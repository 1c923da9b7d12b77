// Logs people can read: level names in JSON, one readable line per entry when pretty (or when
// `auto` and the output is a terminal).

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';

function capture(isTTY: boolean) {
  const out = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  return { out, text: () => text };
}

describe('logger', () => {
  it('JSON lines carry the level as a name', () => {
    const c = capture(false);
    createLogger('info', c.out, 'json').warn({ address: '127.0.0.1:1' }, 'hello there');
    const entry = JSON.parse(c.text()) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 'warn', msg: 'hello there', address: '127.0.0.1:1', service: 'lash-grpc' });
  });

  it('pretty prints time, level, message and fields on one line, without colour off a terminal', () => {
    const c = capture(false);
    createLogger('debug', c.out, 'pretty').info({ address: '127.0.0.1:1', providers: ['echo'], note: 'two words' }, 'lash-grpc serving');
    expect(c.text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}lash-grpc serving address=127\.0\.0\.1:1 providers=\["echo"\] note="two words"\n$/);
  });

  it('auto is pretty (coloured) on a terminal and JSON elsewhere', () => {
    const tty = capture(true);
    createLogger('info', tty.out, 'auto').error('boom');
    expect(tty.text()).toContain('\x1b[31mERROR\x1b[0m boom');
    const pipe = capture(false);
    createLogger('info', pipe.out, 'auto').error('boom');
    expect(JSON.parse(pipe.text())).toMatchObject({ level: 'error', msg: 'boom' });
  });

  it('LASH_LOG_FORMAT is checked', () => {
    expect(loadConfig({ LASH_LOG_FORMAT: 'pretty' }).logFormat).toBe('pretty');
    expect(loadConfig({}).logFormat).toBe('auto');
    expect(() => loadConfig({ LASH_LOG_FORMAT: 'fancy' })).toThrow('LASH_LOG_FORMAT must be auto, json or pretty (got "fancy")');
  });
});
