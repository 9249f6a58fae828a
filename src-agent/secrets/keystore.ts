// keytar is an optional dependency: it does not build where libsecret's headers are
// missing. The agent then says so instead of failing to start.
export interface KeyStoreInfo {
  name: 'keytar' | 'none';
  available: boolean;
  detail: string;
}

export async function detectKeyStore(
  load: () => Promise<unknown> = () => import('keytar'),
): Promise<KeyStoreInfo> {
  try {
    await load();
    return { name: 'keytar', available: true, detail: 'OS credential store through keytar' };
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0];
    return {
      name: 'none',
      available: false,
      detail: `keytar is not available (${reason}); secrets come from the environment only`,
    };
  }
}
