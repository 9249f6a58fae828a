// Proxy failures an IT administrator can act on, each with a stable code.
export type ProxyErrorCode =
  'proxy_unreachable' | 'proxy_auth_failed' | 'proxy_refused' | 'proxy_bad_response';

export class ProxyError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    /** What to check, in the administrator's words. */
    readonly hint: string,
  ) {
    super(message);
  }
}
