// Structured logs, readable lines on stderr. Secrets are redacted here, at the logger,
// so no call site can forget it.
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export const REDACTED_KEYS = [
  'token',
  'deviceToken',
  'password',
  'proxyPassword',
  'authorization',
  '*.token',
  '*.deviceToken',
  '*.password',
  '*.proxyPassword',
  '*.authorization',
  'headers.authorization',
  'headers["proxy-authorization"]',
];

export function createLogger(options: { level?: string; destination?: number } = {}): Logger {
  const stream = pretty({
    destination: options.destination ?? 2,
    sync: true,
    colorize: false,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
  return pino(
    { level: options.level ?? 'info', redact: { paths: REDACTED_KEYS, censor: '[redacted]' } },
    stream,
  );
}

export const silentLogger = (): Logger => pino({ level: 'silent' });
