// Requests the server may make over the agent's own connection. Only ops on this
// allowlist run; everything else is refused, whatever the server sends.
import type { RequestFrame, ResponseFrame } from '../transport/codec.ts';
import type { StatusSnapshot } from '../status.ts';

export type Answer = Omit<ResponseFrame, 'type' | 'id'>;

export function createRequestHandler(deps: { status: () => StatusSnapshot }) {
  const ops: Record<string, (args: Record<string, unknown>) => Promise<Answer>> = {
    status: async (args) =>
      Object.keys(args).length > 0
        ? { ok: false, error: { code: 'bad_request', message: 'status takes no arguments' } }
        : { ok: true, result: deps.status() },
  };
  return async (request: RequestFrame): Promise<Answer> => {
    const op = Object.hasOwn(ops, request.op) ? ops[request.op] : undefined;
    if (!op) {
      return {
        ok: false,
        error: {
          code: 'unsupported_op',
          message: `op "${request.op.slice(0, 64)}" is not supported`,
        },
      };
    }
    return op(request.args);
  };
}
