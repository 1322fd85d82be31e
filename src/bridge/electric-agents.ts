import { createRequire } from "node:module";
import type { Agent } from "undici";

/**
 * undici's `Agent` module alone (with the pool and client it is built on), not the package's index:
 * the index also loads undici's own fetch, WebSocket, cache, mock and proxy modules, a second copy
 * of what Node's built-in fetch already is, about 4 MB of heap pg-sync never runs. The path is
 * fixed by the exact undici version in package.json (test/unit/electric-agents.test.ts checks it).
 */
const AgentClass: typeof Agent = createRequire(import.meta.url)("undici/lib/dispatcher/agent.js");

/**
 * Agents shape requests are spread over. Every live source holds one HTTP/1.1 connection for its
 * long-poll, and an undici pool walks all of its connections to find a free one and to drop a
 * closed one: with 9,000 sources in the default agent's one pool per origin, undici's pool code
 * took about a fifth of pg-sync's CPU, and a burst of closes (bridges stopped together) stalled
 * the event loop for tens of seconds. With the sources spread over this many agents, each pool
 * holds a share of the connections.
 */
export const ELECTRIC_AGENT_SHARDS = 64;

/** FNV-1a of `key`: a cheap, stable spread of sources over the agents. */
function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

/**
 * The shape requests of one process: {@link ElectricAgents.fetchFor} gives a source a fetch that
 * always goes through the same one of `shards` undici agents (created when first used).
 */
export class ElectricAgents {
  readonly #agents: (Agent | undefined)[];

  constructor(shards = ELECTRIC_AGENT_SHARDS) {
    this.#agents = Array.from({ length: shards }, () => undefined);
  }

  /** Global fetch through the agent of `key` (a source's identity). */
  fetchFor(key: string): typeof fetch {
    const i = shardOf(key, this.#agents.length);
    const agent = this.#agents[i] ?? new AgentClass();
    this.#agents[i] = agent;
    // Node's fetch takes an undici dispatcher of the same major version (undici 7 in Node 24).
    return (input, init) => fetch(input, { ...init, dispatcher: agent } as RequestInit);
  }

  /** Closes every connection at once (after the bridges stopped: nothing is in flight). */
  async destroy(): Promise<void> {
    const agents = this.#agents.filter((a): a is Agent => a !== undefined);
    this.#agents.fill(undefined);
    await Promise.all(agents.map((a) => a.destroy().catch(() => {})));
  }
}
