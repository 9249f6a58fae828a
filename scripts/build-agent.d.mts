// Types of build-agent.mjs, for the TypeScript that builds the agent before spawning it.

/** out/agent/cli.mjs: what bin/scopelink-agent.js runs. */
export declare const AGENT_BUNDLE: string;
/** out/agent/parse-worker.cjs: the agent's parse worker, beside its bundle. */
export declare const PARSE_WORKER: string;
/** Bundles src-agent/cli.ts and its parse worker into out/agent, with the built-in profiles; synchronous. */
export declare function buildAgent(): void;
/** buildAgent() the first time it is called in this process, nothing after. */
export declare function ensureAgentBuilt(): void;
/** vitest's globalSetup. */
export declare function setup(): void;
