// "Use the system proxy": Electron knows the system settings, PAC and WPAD; the engine
// does not. The answer for the server's URL is handed to it as plain configuration.
import type { Session } from 'electron';
import type { AgentConfig } from '../src-agent/config/schema.ts';

export async function withSystemProxy(
  config: AgentConfig,
  session: Pick<Session, 'resolveProxy'>,
): Promise<AgentConfig> {
  if (!config.proxy?.system) return config;
  // resolveProxy speaks of https: URLs; the agent's wss: goes the same way.
  const pac = await session.resolveProxy(
    config.serverUrl.replace(/^wss:/i, 'https:').replace(/^ws:/i, 'http:'),
  );
  const { system: _, ...rest } = config.proxy;
  return { ...config, proxy: { ...rest, pac } };
}
