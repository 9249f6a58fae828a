import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { numberJson } from '../../../src-agent/collect/number-json.ts';

// Numbers as logs write them: signs, leading and trailing zeros, a point with or without
// digits on either side, exponents of any case, sign and width; now and then more digits
// than a double holds, or something that is no number at all.
const digits = (max: number) =>
  fc
    .array(fc.constantFrom('0', '0', '0', '1', '2', '5', '7', '9'), { maxLength: max })
    .map((d) => d.join(''));
const number = fc
  .tuple(
    fc.constantFrom('', '', '-', '+'),
    digits(12),
    fc.constantFrom('', '.', '.'),
    digits(12),
    fc.oneof(
      fc.constant(''),
      fc
        .tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '-', '+'), digits(4))
        .map((p) => p.join('')),
      fc.integer({ min: -330, max: 330 }).map((e) => `e${e}`),
    ),
  )
  .map((p) => p.join(''));
const noise = fc.oneof(
  number,
  fc.tuple(number, fc.constantFrom(' ', 'x', '.', 'e', '--', '0x1')).map(([n, x]) => n + x),
  fc.string({ maxLength: 6 }),
);

describe('numberJson', () => {
  it('writes what String(Number(text)) writes, or leaves the text to Number()', () => {
    fc.assert(
      fc.property(noise, (text) => {
        const json = numberJson(text);
        if (json === undefined) return;
        const n = Number(text);
        expect(Number.isFinite(n)).toBe(true);
        expect(json).toBe(String(n));
      }),
      { numRuns: 20_000 },
    );
  });

  it('reads every number of up to 15 significant digits in range, as SmartSEM writes them', () => {
    const cases = [
      ['1.01e-009', '1.01e-9'],
      ['2.470', '2.47'],
      ['1.00', '1'],
      ['9623', '9623'],
      ['24.08', '24.08'],
      ['-0.000', '0'],
      ['+.5e3', '500'],
      ['00012.3400', '12.34'],
      ['0.0000012', '0.0000012'],
      ['0.00000012', '1.2e-7'],
      ['123456789012345e7', '1.23456789012345e+21'],
      ['12345678901234567890', undefined],
      ['1e400', undefined],
      ['1.5 mbar', undefined],
    ];
    expect(cases.map(([text]) => [text, numberJson(text!)])).toEqual(cases);
  });
});
