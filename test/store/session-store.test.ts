// Runs the SessionStore contract on each configured engine.
import { engines } from '../support/engines.js';
import { describeSessionStoreContract } from './session-store.contract.js';

for (const engine of engines) describeSessionStoreContract(engine);
