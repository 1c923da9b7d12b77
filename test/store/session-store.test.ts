// Runs the SessionStore contract on each configured store (memory, PGlite, PostgreSQL).
import { storeEngines } from '../support/store-engines.js';
import { describeSessionStoreContract } from './session-store.contract.js';

for (const engine of storeEngines) describeSessionStoreContract(engine);
