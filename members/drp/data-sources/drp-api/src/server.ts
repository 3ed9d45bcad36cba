import { createLogger, listenUntilStopped, runMain } from '@ndx/service-kit';
import { SERVICE_NAME, buildApp } from './app.ts';
import { readConfig } from './config.ts';

runMain(SERVICE_NAME, async () => {
  const config = readConfig();
  const logger = createLogger(SERVICE_NAME, { level: config.LOG_LEVEL });
  const app = await buildApp(config, logger);
  await listenUntilStopped(app, logger, { port: config.PORT, host: config.HOST });
});
