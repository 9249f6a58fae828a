import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileSource, type SourceParser } from '../../../src-agent/collect/parse.ts';
import { loadProfile } from '../../../src-agent/profiles/load.ts';
import { parseItems } from '../../helpers/parse-items.ts';

let emServer: SourceParser;
let smartsem: SourceParser;

beforeAll(async () => {
  const profile = await loadProfile('em');
  emServer = compileSource(profile.sources.find((s) => s.id === 'em-server')!);
  smartsem = compileSource(profile.sources.find((s) => s.id === 'smartsem-logs')!);
});

const entry = (...lines: string[]) => ({ lines, start: 0, end: 1, truncated: false });

describe('the em profile', () => {
  it('extracts every labelled value with its unit, and states as strings', () => {
    const { items, problems } = parseItems(
      emServer,
      entry(
        '2025-05-11 08:01:16.203 | INFO  | Vacuum   | DP_VACSTATUS = Ready ; Gun Vacuum = 1.01e-009 mbar ; System Vacuum = 2.78e-006 mbar',
      ),
      'EM Server.log',
    );
    expect(problems).toEqual([]);
    expect(items.map((i) => [i.name, i.value, i.unit, i.kind])).toEqual([
      ['vacuum.status', 'Ready', undefined, 'state'],
      ['vacuum.gun', 1.01e-9, 'mbar', 'metric'],
      ['vacuum.system', 2.78e-6, 'mbar', 'metric'],
    ]);
    expect(Date.parse(items[0]!.ts)).toBe(new Date(2025, 4, 11, 8, 1, 16, 203).getTime());
  });

  it('maps units the profile renames', () => {
    const { items } = parseItems(
      emServer,
      entry(
        '2025-05-11 08:02:44.263 | INFO  | System   | Operating Hours = 17035.3 Hours ; Supply 24V = 24.08 V',
      ),
      'EM Server.log',
    );
    expect(items.map((i) => [i.name, i.value, i.unit])).toEqual([
      ['system.operating_hours', 17035.3, 'h'],
      ['supply.24v', 24.08, 'V'],
    ]);
  });

  it('keeps a unit the profile does not rename, whatever its name', () => {
    const { items } = parseItems(
      emServer,
      entry('2025-05-11 08:02:44.263 | INFO  | System   | Supply 24V = 24.08 constructor'),
      'EM Server.log',
    );
    expect(items.map((i) => i.unit)).toEqual(['constructor']);
  });

  it('tells each entry its level, whatever the entry before it had', () => {
    const kinds = ['ERROR', 'INFO ', 'WARN ', 'WARN ', 'ERROR', 'DEBUG', 'ERROR'].map((level) =>
      parseItems(emServer, entry(`2025-05-11 08:06:27.120 | ${level} | Vacuum   | Gauge IGP1`), 'x')
        .items.map((i) => i.name)
        .join(),
    );
    expect(kinds).toEqual(['error', '', 'warning', 'warning', 'error', '', 'error']);
  });

  it('makes ERROR entries error items from their first line, with the code and no path', () => {
    const { items } = parseItems(
      emServer,
      entry(
        '2025-05-11 08:09:21.144 | ERROR | Remoting | API_E_REMOTING_EMSERVER_NOT_RUNNING (2030) remoting server not reachable',
        '    at CEMServer::Notify(Int32 code)',
      ),
      'EM Server.log',
    );
    expect(items).toEqual([
      expect.objectContaining({
        name: 'error',
        kind: 'error',
        value: 'API_E_REMOTING_EMSERVER_NOT_RUNNING (2030) remoting server not reachable',
        attrs: { code: '2030' },
      }),
    ]);
    const saved = parseItems(
      emServer,
      entry(
        '2025-05-11 08:06:54.252 | ERROR | Imaging  | Failed to save image C:\\Users\\jdoe\\a.tif: disk full',
      ),
      'EM Server.log',
    );
    expect(saved.items[0]!.value).toBe('Failed to save image <path>: disk full');
  });

  it('makes WARN entries warning events', () => {
    const { items } = parseItems(
      emServer,
      entry('2025-05-11 08:06:27.120 | WARN  | Vacuum   | Gauge IGP1 read timeout, retrying'),
      'EM Server.log',
    );
    expect(items.map((i) => [i.name, i.kind, i.value])).toEqual([
      ['warning', 'event', 'Gauge IGP1 read timeout, retrying'],
    ]);
  });

  it('sends nothing for saved images or user logons beyond the bare event', () => {
    const image = parseItems(
      emServer,
      entry(
        '2025-05-11 08:02:54.106 | INFO  | Imaging  | Image saved to C:\\Users\\jdoe\\x\\sample_354.tif',
      ),
      'EM Server.log',
    );
    expect(image.items).toEqual([]);
    // Not as an error or a warning either: the entry names what the lab works on.
    for (const level of ['WARN ', 'ERROR']) {
      const flagged = parseItems(
        emServer,
        entry(
          `2025-05-11 08:02:54.106 | ${level} | Imaging  | Image saved to \\\\nas\\cells_54.tif (2031)`,
        ),
        'EM Server.log',
      );
      expect(flagged).toMatchObject({ items: [], problems: [] });
    }
    const logon = parseItems(
      emServer,
      entry('2025-05-11 08:01:05.700 | INFO  | Session  | EMSERVER_USER_LOGGED_ON user=schmidt_k'),
      'EM Server.log',
    );
    expect(logon.items).toEqual([
      expect.objectContaining({ name: 'session.logon', value: null, kind: 'event' }),
    ]);
    expect(JSON.stringify(logon.items)).not.toContain('schmidt_k');
  });

  it('ignores unknown labels and counts unreadable numbers', () => {
    const { items, problems } = parseItems(
      emServer,
      entry('2025-05-11 08:02:44.263 | INFO  | System   | Secret Label = 5 ; Supply 24V = n/a V'),
      'EM Server.log',
    );
    expect(items).toEqual([]);
    expect(problems).toHaveLength(1);
  });

  it('names the file for sources spanning several files', () => {
    const { items } = parseItems(
      smartsem,
      entry('2025-05-11 08:18:08.488 | INFO  | GIS      | GIS Reservoir Temperature = 28.23 °C'),
      'GIS.log',
    );
    expect(items).toEqual([
      expect.objectContaining({
        name: 'gis.reservoir_temperature',
        value: 28.23,
        unit: '°C',
        attrs: { file: 'GIS.log' },
      }),
    ]);
  });

  it('reports an unreadable timestamp instead of inventing one', () => {
    const { items, problems } = parseItems(
      emServer,
      entry('2025-19-11 08:02:44.263 | INFO  | System   | Operating Hours = 1 Hours'),
      'EM Server.log',
    );
    expect(items).toEqual([]);
    expect(problems[0]).toMatch(/timestamp/);
  });
});

describe('a labels rule', () => {
  // Messages of labels, values, numbers, units, blanks of all kinds, separators (one or two
  // characters, some that a number could run into) and stray `=`.
  const token = fc.constantFrom(
    'A',
    'B C',
    'D',
    'N',
    'x',
    ' ',
    '\t',
    '\u00a0',
    '\u2028',
    '\ufeff',
    '\u3000',
    '=',
    ';',
    '|;',
    '1',
    '-',
    '+',
    '.',
    'e',
    'E',
    'v',
    '2.5 h',
    '.5',
    '1e-3',
    '7.',
    'N = 1',
    'E+',
    '',
    'mbar',
  );
  const message = fc.array(token, { maxLength: 24 }).map((t) => t.join(''));

  /**
   * What the rule must find: the parts between separators, each split at its first `=`; a
   * number's value is the number alone, and the rest after blanks its unit.
   */
  function reference(text: string, separator: string): [string, unknown, string | undefined][] {
    // ' D' has blanks of its own: no part trims to it.
    const names: Record<string, string> = { A: 'a', 'B C': 'bc', N: 'n', ' D': 'd' };
    const found: [string, unknown, string | undefined][] = [];
    for (const part of text.split(separator)) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const name = names[part.slice(0, eq).trim()];
      const value = part.slice(eq + 1).trim();
      if (name !== 'n') {
        if (name) found.push([name, value, undefined]);
        continue;
      }
      const m = /^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*)$/s.exec(value);
      // A value that is no number is no item (the parse counts it as a problem).
      if (m) found.push(['n', Number(m[1]), m[2] || undefined]);
    }
    return found;
  }

  it.each([';', '|;', '=;', '1', 'e', '.'])(
    'reads label = value parts between separators %j',
    async (separator) => {
      const em = (await loadProfile('em')).sources.find((s) => s.id === 'em-server')!;
      const parser = compileSource({
        ...em,
        drop: [],
        errorCode: undefined,
        units: {},
        rules: [
          {
            type: 'labels',
            separator,
            labels: {
              A: { name: 'a', kind: 'event', valueType: 'string' },
              'B C': { name: 'bc', kind: 'event', valueType: 'string' },
              ' D': { name: 'd', kind: 'event', valueType: 'string' },
              N: { name: 'n', kind: 'metric', valueType: 'number' },
            },
          },
        ],
      });
      fc.assert(
        fc.property(message, (text) => {
          const line = `2025-05-11 08:00:04.236 | INFO  | System   | ${text}`;
          const { items } = parseItems(parser, entry(line), 'EM Server.log');
          // The entry's message is trimmed before the rules see it.
          expect(items.map((i) => [i.name, i.value, i.unit])).toEqual(
            reference(text.trim(), separator),
          );
        }),
        // Numbers that run on into a separator of digits, `e` or `.`; exponents without digits.
        {
          numRuns: 3000,
          examples: [
            ['N = 7e1 h ; A = x'],
            ['N = 5e3 ; N=2'],
            ['N = 7.5 mbar'],
            ['N = 7e h'],
            ['N = -.5E+ x'],
            ['N = +.e1'],
            // Parts spaced exactly as the label ' D', which no trimmed part equals.
            ['N = 1; D= x; D =y'],
          ],
        },
      );
    },
  );
});
