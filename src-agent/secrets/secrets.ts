// Where the agent's secrets come from. The environment serves tests, CI and service
// wrappers; the encrypted vault that the tray app and `secrets set` will write plugs
// in behind the same interface.
export type SecretName = 'device-token' | 'proxy-password';

export interface SecretSource {
  get(name: SecretName): Promise<string | null>;
}

const ENV_NAMES: Record<SecretName, string> = {
  'device-token': 'SCOPELINK_DEVICE_TOKEN',
  'proxy-password': 'SCOPELINK_PROXY_PASSWORD',
};

export class EnvSecrets implements SecretSource {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async get(name: SecretName): Promise<string | null> {
    const value = this.env[ENV_NAMES[name]];
    return value && value.length > 0 ? value : null;
  }
}
