// Reads one HTTP/1.x response head (and a body it announces) from a proxy connection,
// leaving every byte after it on the socket: after `200` those belong to the tunnel.
import type { Duplex } from 'node:stream';
import { ProxyError } from './errors.ts';

export interface ProxyResponse {
  status: number;
  reason: string;
  /** Header lines in order; a header may repeat (one Proxy-Authenticate per scheme). */
  headers: [name: string, value: string][];
}

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_BODY_BYTES = 1024 * 1024;

export function header(response: ProxyResponse, name: string): string[] {
  const lower = name.toLowerCase();
  return response.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
}

export function readResponse(
  socket: Duplex,
  timeoutMs: number,
  skipBody: boolean,
): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    let head: ProxyResponse | null = null;
    let bodyLeft = 0;
    const timer = setTimeout(
      () =>
        finish(
          new ProxyError(
            'proxy_unreachable',
            `the proxy did not answer within ${timeoutMs} ms`,
            HINT_REACH,
          ),
        ),
      timeoutMs,
    );
    const finish = (result: ProxyResponse | Error, rest?: Buffer) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.pause();
      if (rest && rest.length > 0) socket.unshift(rest);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onEnd = () =>
      finish(
        new ProxyError(
          'proxy_bad_response',
          'the proxy closed the connection before answering',
          HINT_PROXY,
        ),
      );
    const onError = (err: Error) =>
      finish(
        new ProxyError(
          'proxy_unreachable',
          `connection to the proxy failed: ${err.message}`,
          HINT_REACH,
        ),
      );
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!head) {
        // Not the start of a status line: no reason to wait for a blank line that an SMTP or SSH
        // server, say, never sends (that would end as a timeout, blamed on the network).
        if (!'HTTP/'.startsWith(buffered.subarray(0, 5).toString('latin1'))) {
          finish(notHttp(buffered.toString('latin1').split('\r\n', 1)[0]!));
          return;
        }
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buffered.length > MAX_HEAD_BYTES) {
            finish(
              new ProxyError(
                'proxy_bad_response',
                'the proxy sent an oversized answer',
                HINT_PROXY,
              ),
            );
          }
          return;
        }
        try {
          head = parseHead(buffered.subarray(0, end).toString('latin1'));
        } catch (err) {
          finish(err as Error);
          return;
        }
        buffered = buffered.subarray(end + 4);
        const length = Number(header(head, 'content-length')[0] ?? 0);
        // A 2xx answer to CONNECT has no body whatever it announces (RFC 9110, 9.3.6):
        // what follows belongs to the tunnel.
        const success = head.status >= 200 && head.status < 300;
        bodyLeft = skipBody && !success && Number.isFinite(length) && length > 0 ? length : 0;
        if (bodyLeft > MAX_BODY_BYTES) {
          finish(
            new ProxyError(
              'proxy_bad_response',
              'the proxy announced an oversized answer',
              HINT_PROXY,
            ),
          );
          return;
        }
      }
      const take = Math.min(bodyLeft, buffered.length);
      bodyLeft -= take;
      buffered = buffered.subarray(take);
      if (bodyLeft === 0) finish(head, buffered);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.resume();
  });
}

function parseHead(text: string): ProxyResponse {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
  if (!m) throw notHttp(statusLine);
  const headers: [string, string][] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new ProxyError(
        'proxy_bad_response',
        `malformed header line from the proxy`,
        HINT_PROXY,
      );
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2] ?? '', headers };
}

function notHttp(statusLine: string): ProxyError {
  return new ProxyError(
    'proxy_bad_response',
    // Control bytes (a TLS alert, say) would garble the status line an administrator reads.
    `the proxy answered something that is not HTTP: "${statusLine.slice(0, 60).replace(/[^\x20-\x7e]/g, '?')}"`,
    HINT_PROXY,
  );
}

export const HINT_REACH =
  'check the proxy address and port, and that a firewall lets this PC reach it';
export const HINT_PROXY =
  'check that the configured address is an HTTP proxy (not a web server or a TLS port)';
