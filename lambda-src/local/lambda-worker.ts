/**
 * The entry point of one local execution environment (bundled to
 * assets/lambda-src/local/lambda-worker): see ./lambda/worker.
 */
import { runWorker } from './lambda/worker';

runWorker();
