import { describe, expect, it } from 'vitest';
import { createReader, type ParsedEntry } from '../../../src-agent/collect/formats.ts';

const log4net = createReader({ type: 'log4net-xml' });
const records = createReader({ type: 'xml-records' });

describe('log4net-xml', () => {
  const event =
    '<event logger="Zeiss.Micro.Focus" timestamp="2025-06-23T08:03:55.1017550+01:00" level="ERROR" username="LAB\\m.tanaka">' +
    '<message><![CDATA[Move <Z> failed & retried <3x>]]></message>' +
    '<properties><data name="SoftwareVersion" value="3.12.571.03810" /><data name="Stand" value="Axio" /></properties>';

  it('frames an event that spans lines and ends at </event>', () => {
    expect(log4net.frame.startsEntry(event)).toBe(true);
    expect(log4net.frame.endsEntry?.('   at Zeiss.Micro.Focus.Move()</exception></event>')).toBe(
      true,
    );
    expect(log4net.frame.startsEntry('   at Zeiss.Micro.Focus.Move()')).toBe(false);
  });

  it('reads attributes, CDATA message, properties and the first exception line', () => {
    const parsed = log4net.read([
      event + '<exception>System.TimeoutException: Requested position was not reached',
      '   at Zeiss.Micro.Focus.Move()</exception></event>',
    ]) as ParsedEntry;
    expect(parsed).toMatchObject({
      ts: '2025-06-23T08:03:55.1017550+01:00',
      level: 'ERROR',
      message: 'Move <Z> failed & retried <3x>',
      exception: 'System.TimeoutException: Requested position was not reached',
    });
    expect(parsed.fields).toMatchObject({
      SoftwareVersion: '3.12.571.03810',
      Stand: 'Axio',
      logger: 'Zeiss.Micro.Focus',
    });
  });

  it('takes fields from attributes and properties, the time and level from attributes only', () => {
    const parsed = log4net.read([
      '<log4net:event timestamp="2025-06-23T08:00:00Z" level="WARN" thread="7">' +
        '<log4net:message>m</log4net:message><log4net:properties>' +
        '<log4net:data name="thread" value="main" /><log4net:data name="timestamp" value="x" />' +
        '<log4net:data name="level" value="DEBUG" /></log4net:properties></log4net:event>',
    ]) as ParsedEntry;
    expect(parsed).toMatchObject({ ts: '2025-06-23T08:00:00Z', level: 'WARN', message: 'm' });
    expect(parsed.fields).toMatchObject({ thread: 'main', timestamp: 'x', level: 'DEBUG' });
  });

  it('decodes entities in plain messages', () => {
    const parsed = log4net.read([
      '<event timestamp="t" level="INFO"><message>a &amp; b &lt;c&gt;</message></event>',
    ]);
    expect((parsed as ParsedEntry).message).toBe('a & b <c>');
  });

  it('reports a truncated event instead of guessing', () => {
    expect(log4net.read(['<event timestamp="2025-03-04T09:13:'])).toMatch(/truncated/);
  });
});

describe('xml-records', () => {
  it('reads a self-closing record as fields', () => {
    const line =
      '<record timestamp="2025-06-23T08:10:35+01:00" name="stand.operating_hours" value="8867.0" unit="h" />';
    expect(records.frame.startsEntry(line)).toBe(true);
    expect(records.frame.endsEntry?.(line)).toBe(true);
    expect(records.read([line])).toEqual({
      ts: '2025-06-23T08:10:35+01:00',
      level: '',
      message: '',
      fields: {
        timestamp: '2025-06-23T08:10:35+01:00',
        name: 'stand.operating_hours',
        value: '8867.0',
        unit: 'h',
      },
    });
  });
});

describe('lines', () => {
  it('puts named groups other than ts, level and message into fields', () => {
    const reader = createReader({
      type: 'lines',
      entry: '^(?<ts>\\S+ \\S+), (?<component>[^,]+), (?<message>.*)$',
    });
    expect(reader.read(['08/08/2025 08:04:33, Tube, kV=126.7'])).toEqual({
      ts: '08/08/2025 08:04:33',
      level: '',
      message: 'kV=126.7',
      fields: { component: 'Tube' },
    });
  });
});

describe('lines with line breaks of their own', () => {
  // A line is what lies between line feeds: a stray CR or a Unicode line separator inside it
  // is part of the message. A `.` that stopped at them made such an entry unreadable.
  it.each([
    ['a carriage return', '\r'],
    ['U+2028', '\u2028'],
    ['U+2029', '\u2029'],
  ])('reads a message that holds %s', (_, brk) => {
    const reader = createReader({
      type: 'lines',
      entry: '^(?<ts>\\S+ \\S+) \\| (?<level>[A-Z]+) \\| (?<message>.*)$',
    });
    const line = `2025-05-11 08:00:04.236 | INFO | EHT = 5 kV${brk}; Fil I = 2.3 A`;
    expect(reader.frame.startsEntry(line)).toBeTruthy();
    expect(reader.read([line])).toMatchObject({ message: `EHT = 5 kV${brk}; Fil I = 2.3 A` });
  });
});
