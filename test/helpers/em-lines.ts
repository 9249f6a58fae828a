/**
 * An EM Server.log line (CRLF) that the em profile turns into exactly one item,
 * `system.operating_hours` with value `n`: tests count delivery by these values.
 */
export const operatingHoursLine = (n: number): string =>
  `2026-11-30 08:00:00.000 | INFO  | System   | Operating Hours = ${n} Hours\r\n`;
