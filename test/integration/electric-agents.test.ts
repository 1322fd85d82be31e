import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ElectricAgents } from "../../src/bridge/electric-agents.js";

let server: Server;
let origin: string;

beforeAll(async () => {
  server = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe("ElectricAgents", () => {
  it("should dispatch through undici's own Agent class, loaded without the package index", async () => {
    const agents = new ElectricAgents(4);
    const spy = vi.spyOn(globalThis, "fetch");
    try {
      const res = await agents.fetchFor("source-a")(`${origin}/v1/shape`);
      expect(await res.text()).toBe("ok");
      const init = spy.mock.calls[0]?.[1] as { dispatcher?: unknown } | undefined;
      expect(init?.dispatcher).toBeInstanceOf(Agent);
    } finally {
      spy.mockRestore();
      await agents.destroy();
    }
  });

  it("should send every request of one source through the same agent", async () => {
    const agents = new ElectricAgents(4);
    const spy = vi.spyOn(globalThis, "fetch");
    try {
      for (let i = 0; i < 3; i++) {
        const res = await agents.fetchFor("source-a")(`${origin}/v1/shape?i=${i}`);
        expect(await res.text()).toBe("ok");
      }
      const dispatchers = spy.mock.calls.map((call) => (call[1] as { dispatcher?: unknown }).dispatcher);
      expect(dispatchers).toHaveLength(3);
      expect(new Set(dispatchers).size).toBe(1);
    } finally {
      spy.mockRestore();
      await agents.destroy();
    }
  });
});
