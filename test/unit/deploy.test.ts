import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { SERVER_V8_FLAGS } from "../../scripts/lib/processes.js";
import { DEFAULT_CONFIG, ENV, loadConfig } from "../../src/config.js";
import { HEALTH_SERVICES } from "../../src/server.js";

const ROOT = resolve(import.meta.dirname, "../..");
const DEPLOY = join(ROOT, "deploy");
const KNOWN_VARS = new Set<string>(Object.values(ENV));
const HEALTH_NAMES = new Set<string>(Object.values(HEALTH_SERVICES));

interface EnvVar {
  name: string;
  value?: string;
}
interface Container {
  env: EnvVar[];
  ports: { containerPort: number }[];
  readinessProbe: { grpc: { port: number; service: string } };
  livenessProbe: { grpc: { port: number; service: string } };
}
interface K8sDoc {
  kind: string;
  spec: {
    replicas?: number;
    maxUnavailable?: number;
    minAvailable?: number;
    template?: { spec: { terminationGracePeriodSeconds: number; containers: Container[] } };
  };
}

const portOf = (listen: string) => Number(listen.slice(listen.lastIndexOf(":") + 1));

/** The variables a pg-sync container is given must all be ones config.ts reads, and load. */
function expectKnownEnv(env: Record<string, string>): void {
  for (const name of Object.keys(env)) expect(KNOWN_VARS, `${name} is read by config.ts`).toContain(name);
  const config = loadConfig({ PGSYNC_DATABASE_URL: "postgres://x@db/x", PGSYNC_AUTH_TOKENS: "t=x", ...env });
  expect(config.listen.port).toBeGreaterThan(0);
}

describe("deployment files", () => {
  it("should build an image that runs the compiled server on the port it listens on", () => {
    const lines = readFileSync(join(DEPLOY, "Dockerfile"), "utf8").split("\n");
    const env = Object.fromEntries(
      lines.filter((l) => l.startsWith("ENV PGSYNC_")).map((l) => l.slice(4).split("=") as [string, string]),
    );
    expectKnownEnv(env);
    const listen = env[ENV.listen] as string;
    expect(lines).toContain(`EXPOSE ${portOf(listen)}`);
    // The image runs the server with the same V8 flags as `npm start` and the tests.
    const flags = SERVER_V8_FLAGS.split(" ").map((f) => `"${f}"`);
    expect(lines).toContain(`CMD ["node", ${flags.join(", ")}, "dist/src/main.js"]`);
    expect(readFileSync(join(ROOT, "scripts/start.sh"), "utf8")).toContain(SERVER_V8_FLAGS);
    // The compiled entry is src/main.ts; the files copied for run time exist.
    expect(existsSync(join(ROOT, "src/main.ts"))).toBe(true);
    expect(existsSync(join(ROOT, "src/storage/migrations"))).toBe(true);
    expect(existsSync(join(ROOT, "descriptors/pgsync.binpb"))).toBe(true);
  });

  it("should run three replicas on Kubernetes with gRPC health probes, a PDB and a grace covering the drain", () => {
    const docs = parseAllDocuments(readFileSync(join(DEPLOY, "kubernetes/pg-sync.yaml"), "utf8")).map((d) => {
      expect(d.errors).toEqual([]);
      return d.toJS() as K8sDoc;
    });
    const deployment = docs.find((d) => d.kind === "Deployment");
    expect(deployment?.spec.replicas).toBe(3);
    const pod = deployment?.spec.template?.spec;
    const container = pod?.containers[0] as Container;
    const env: Record<string, string> = {};
    for (const v of container.env) env[v.name] = v.value ?? "";
    for (const name of Object.keys(env)) expect(KNOWN_VARS, `${name} is read by config.ts`).toContain(name);
    expectKnownEnv(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== "")));
    const port = portOf(env[ENV.listen] as string);
    expect(container.ports.map((p) => p.containerPort)).toEqual([port]);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.grpc.port).toBe(port);
      expect(HEALTH_NAMES).toContain(probe.grpc.service);
    }
    const graceMs = Number(env[ENV.shutdownGraceMs] ?? DEFAULT_CONFIG.shutdownGraceMs);
    expect((pod?.terminationGracePeriodSeconds ?? 0) * 1000).toBeGreaterThanOrEqual(graceMs + 5_000);
    const pdb = docs.find((d) => d.kind === "PodDisruptionBudget");
    expect(pdb?.spec.maxUnavailable ?? 3 - (pdb?.spec.minAvailable ?? 3)).toBe(1);
  });

  it("should compose Postgres, Electric's official image and two pg-sync replicas", () => {
    const compose = parse(readFileSync(join(DEPLOY, "compose.yaml"), "utf8"), { merge: true }) as {
      services: Record<string, { image: string; environment?: Record<string, string>; ports?: string[] }>;
    };
    const services = Object.entries(compose.services);
    expect(services.some(([, s]) => s.image.startsWith("postgres:"))).toBe(true);
    expect(services.some(([, s]) => s.image.startsWith("electricsql/electric:"))).toBe(true);
    const replicas = services.filter(([name]) => name.startsWith("pg-sync"));
    expect(replicas).toHaveLength(2);
    const ids = new Set<string>();
    for (const [, s] of replicas) {
      const env = s.environment ?? {};
      expectKnownEnv(env);
      ids.add(env[ENV.replicaId] as string);
      const port = portOf(env[ENV.listen] as string);
      for (const mapping of s.ports ?? []) expect(Number(mapping.split(":").at(-1))).toBe(port);
      expect(new URL(env[ENV.electricUrl] as string).hostname).toBe("electric");
    }
    expect(ids.size).toBe(2);
  });
});
