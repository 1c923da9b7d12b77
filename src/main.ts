// Process entry point: check the Node version and the whole configuration (exit 2, before the
// store opens), start the app, stop gracefully on SIGTERM/SIGINT or when the npm process that
// started us goes away.

import { loadConfig, ConfigError, type Config } from './config.js';
import { assertListenable } from './listen-check.js';
import { createLogger } from './logger.js';
import { nodeVersionProblem } from './node-version.js';
import type { App } from './app.js';

// Provider libraries read some variables when they are imported and reject empty strings; we
// treat empty as unset, so drop those before the app (and the libraries) load.
for (const name of ['OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GOOGLE_GENERATIVE_AI_API_KEY']) {
  if (process.env[name] === '') delete process.env[name];
}

function configError(err: unknown): never {
  if (err instanceof ConfigError) {
    console.error(`lash-grpc: configuration error: ${err.message}`);
    process.exit(2);
  }
  throw err;
}

async function main(): Promise<void> {
  const tooOld = nodeVersionProblem();
  if (tooOld) {
    console.error(`lash-grpc: ${tooOld}`);
    process.exit(2);
  }
  let config: Config;
  try {
    config = loadConfig();
    await assertListenable('LASH_LISTEN', config.listen.host, config.listen.port);
    if (config.metricsListen) await assertListenable('LASH_METRICS_LISTEN', config.metricsListen.host, config.metricsListen.port);
    if (config.http) await assertListenable('LASH_HTTP_LISTEN', config.http.listen.host, config.http.listen.port);
  } catch (err) {
    configError(err);
  }
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  // The handlers are in place before the server starts: a signal that arrives while it starts (or
  // right after it says "serving", before a later registration could run) must not kill the
  // process with the default action, leaving the data folder locked. It stops the server as soon
  // as it is up; a second signal exits at once.
  let app: App | undefined;
  let pending: NodeJS.Signals | 'parent exited' | undefined;
  let firstSignalAt = 0;
  const onSignal = (signal: NodeJS.Signals | 'parent exited') => {
    if (firstSignalAt > 0) {
      // npm forwards the terminal's Ctrl-C that already reached us: one keypress, two signals.
      if (Date.now() - firstSignalAt < 1_000) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    firstSignalAt = Date.now();
    if (!app) {
      log.info({ signal }, 'signal received while starting: stopping once started');
      pending = signal;
      return;
    }
    log.info({ signal }, 'signal received');
    app.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (config.defaultProvider === 'echo') log.warn('no model credentials configured: sessions use the built-in "echo" model, which repeats the input');
  const { startApp } = await import('./app.js');
  try {
    app = await startApp(config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.fatal({ err: err.message }, 'failed to start: configuration error');
      configError(err);
    }
    log.fatal({ err: (err as Error).message }, 'failed to start');
    process.exit(1);
  }
  watchNpmParent(() => onSignal('parent exited'));
  if (pending) {
    firstSignalAt = 0;
    onSignal(pending);
  }
}

/**
 * Started by an npm script, the server stops when npm goes away (killed with SIGKILL, or an npm
 * that does not forward signals): otherwise it would keep the port and the data folder, orphaned.
 * Not done when started directly, so `nohup node …` keeps its meaning.
 */
function watchNpmParent(onGone: () => void): void {
  if (!process.env.npm_lifecycle_event) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onGone();
    }
  }, 500);
  timer.unref();
}

void main();
