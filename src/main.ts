// Process entry point: parse config, start the app, stop gracefully on SIGTERM/SIGINT.

import { loadConfig, ConfigError } from './config.js';
import { createLogger } from './logger.js';

// Provider libraries read some variables when they are imported and reject empty strings; we
// treat empty as unset, so drop those before the app (and the libraries) load.
for (const name of ['OPENAI_BASE_URL', 'ANTHROPIC_BASE_URL', 'OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'GOOGLE_GENERATIVE_AI_API_KEY']) {
  if (process.env[name] === '') delete process.env[name];
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`lash-grpc: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  // The app (and its heavy imports) loads only once the configuration is known to be usable.
  const { startApp } = await import('./app.js');
  const log = createLogger(config.logLevel);
  if (config.defaultProvider === 'echo') log.warn('no model credentials configured: sessions use the built-in "echo" model, which repeats the input');
  let app;
  try {
    app = await startApp(config, log);
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'failed to start');
    process.exit(1);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
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
}

void main();
