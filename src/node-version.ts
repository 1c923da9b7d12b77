// The Node.js versions this server runs on. MikroORM 7 (the store) declares node >= 22.17, and
// older Nodes fail late (e.g. the rlm sandbox's TypeScript worker on Node 20), so main.ts checks
// first and says what to do in one line. Keep MIN_NODE equal to package.json's `engines.node`.

export const MIN_NODE = '22.17.0';

/** A one-line refusal when `version` is older than MIN_NODE; undefined when it will do. */
export function nodeVersionProblem(version: string = process.versions.node): string | undefined {
  const have = version.split('.').map(Number);
  const need = MIN_NODE.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if ((have[i] ?? 0) > need[i]!) return undefined;
    if ((have[i] ?? 0) < need[i]!) {
      return `lash-grpc needs Node.js >= ${MIN_NODE} (MikroORM 7), this is ${version}; run it with "npm start" (npm scripts use the Node 22 that "npm ci" installs) or install Node 22`;
    }
  }
  return undefined;
}
