// The Kubernetes manifests in deploy/k8s agree with the code: their settings pass src/config.ts,
// probes and Service ports point at the port the server listens on, the termination grace covers
// preStop plus the drain, selectors match, and the pod runs non-root on a read-only root.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { grpcServerOptions } from '../../src/app.js';
import { HealthState, LIVENESS } from '../../src/grpc/health.js';
import { HealthCheckResponse_ServingStatus as Serving } from '../../gen/grpc/health/v1/health.js';

type Doc = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> }; [k: string]: unknown };
const dir = join(import.meta.dirname, '../../deploy/k8s');
const docs: Doc[] = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Doc;
    }),
  );
const one = <T>(kind: string) => {
  const found = docs.filter((d) => d.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0] as unknown as T;
};

interface Probe {
  grpc?: { port: number | string; service?: string };
}
interface Container {
  name: string;
  envFrom: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string; value?: string }[];
  ports: { name: string; containerPort: number }[];
  startupProbe: Probe;
  readinessProbe: Probe;
  livenessProbe: Probe;
  lifecycle: { preStop: { exec: { command: string[] } } };
  resources: { requests: Record<string, string>; limits?: Record<string, string> };
  securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean };
  volumeMounts: { name: string; mountPath: string }[];
}
interface Deployment {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    strategy: { rollingUpdate: { maxUnavailable: number } };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot: boolean; runAsUser: number };
        containers: Container[];
        volumes: { name: string; emptyDir?: object }[];
      };
    };
  };
}

const deployment = one<Deployment>('Deployment');
const pod = deployment.spec.template;
const container = pod.spec.containers[0]!;
const configMap = one<{ metadata: { name: string }; data: Record<string, string> }>('ConfigMap');
const secret = one<{ metadata: { name: string }; stringData: Record<string, string> }>('Secret');
const env: Record<string, string> = {
  ...configMap.data,
  ...secret.stringData,
  ...Object.fromEntries((container.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!])),
};
const portOf = (address: string) => Number(address.split(':').pop());

describe('deploy/k8s manifests', () => {
  it('every setting is one the server reads, and together they pass its configuration check', () => {
    const source = ['src/config.ts', 'src/main.ts', 'src/auth/config.ts'].map((f) => readFileSync(join(import.meta.dirname, '../..', f), 'utf8')).join('\n');
    const unread = Object.keys(env).filter((name) => !source.includes(name));
    expect(unread).toEqual([]);
    const config = loadConfig(env);
    // Listening beyond loopback, so authentication must be configured: JWTs against the IdP's JWKS.
    expect(config.auth.mode).not.toBe('anonymous');
    expect(config.databaseUrl).toMatch(/^postgresql:\/\//);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 50051 });
    // The mesh-facing connection settings reach grpc-js.
    expect(grpcServerOptions(config.grpc)).toMatchObject({
      'grpc.max_connection_age_ms': 300_000,
      'grpc.max_connection_age_grace_ms': 600_000,
      'grpc.keepalive_time_ms': 30_000,
    });
  });

  it('the container takes the ConfigMap and Secret, and names the ports the server listens on', () => {
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }, { secretRef: { name: secret.metadata.name } }]);
    expect(container.ports).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'grpc', containerPort: portOf(env.LASH_LISTEN!) }),
        expect.objectContaining({ name: 'metrics', containerPort: portOf(env.LASH_METRICS_LISTEN!) }),
      ]),
    );
  });

  it('startup, readiness and liveness probes use grpc.health.v1 on the serving port; liveness asks for the process alone', () => {
    for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) expect(probe.grpc?.port).toBe(portOf(env.LASH_LISTEN!));
    // Overall status: NOT_SERVING while the store is unreachable or the pod drains.
    expect(container.startupProbe.grpc?.service ?? '').toBe('');
    expect(container.readinessProbe.grpc?.service ?? '').toBe('');
    // Liveness on the overall status would restart every pod during a database outage.
    expect(container.livenessProbe.grpc?.service).toBe(LIVENESS);
    const health = new HealthState(['lash.v1.SessionService']);
    health.setStoreReachable(false);
    health.setShuttingDown();
    expect(health.statusOf(container.livenessProbe.grpc!.service!)).toBe(Serving.SERVING);
    expect(health.statusOf(container.readinessProbe.grpc?.service ?? '')).toBe(Serving.NOT_SERVING);
  });

  it('the termination grace covers the preStop pause, the drain and closing the store', () => {
    const [cmd, seconds] = container.lifecycle.preStop.exec.command;
    expect(cmd).toBe('sleep');
    const preStopMs = Number(seconds) * 1000;
    const graceMs = Number(env.LASH_SHUTDOWN_GRACE_MS);
    expect(Number(env.LASH_SHUTDOWN_NOTICE_MS)).toBeLessThanOrEqual(graceMs);
    // After the grace the server waits up to 5 s for cancelled turns to commit, then closes.
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThanOrEqual(preStopMs + graceMs + 5_000);
  });

  it('the headless Service names the grpc port and selects the pods; the PDB keeps replicas up', () => {
    const service = one<{
      spec: { clusterIP: string; selector: Record<string, string>; ports: { name: string; port: number; targetPort: string; appProtocol?: string }[] };
    }>('Service');
    expect(service.spec.clusterIP).toBe('None');
    expect(pod.metadata.labels).toMatchObject(service.spec.selector);
    const grpc = service.spec.ports.find((p) => p.name === 'grpc');
    expect(grpc).toMatchObject({ targetPort: 'grpc', appProtocol: 'grpc' });
    const pdb = one<{ spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget');
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(pod.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(pdb.spec.maxUnavailable).toBeLessThan(deployment.spec.replicas);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
  });

  it('metrics are announced for scraping on the metrics port', () => {
    expect(pod.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(portOf(env.LASH_METRICS_LISTEN!)),
      'prometheus.io/path': '/metrics',
    });
  });

  it('the pod runs non-root on a read-only root filesystem with a writable /tmp, and asks for resources', () => {
    expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true });
    expect(pod.spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    const tmp = container.volumeMounts.find((m) => m.mountPath === '/tmp');
    expect(pod.spec.volumes.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
    expect(Object.keys(container.resources.requests).sort()).toEqual(['cpu', 'memory']);
  });

  it('the credentials in the Secret are placeholders, never real values', () => {
    for (const [name, value] of Object.entries(secret.stringData)) expect(value, name).toContain('CHANGE_ME');
  });
});
