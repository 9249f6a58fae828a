import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { groupNames, groupReader, withoutNames } from '../../../src-agent/collect/group-reader.ts';
import { BUILTIN_PROFILES_DIR, loadProfile } from '../../../src-agent/profiles/load.ts';
import { SAMPLE_LOGS } from '../../helpers/parse-jobs.ts';

/** What the names find: the reference the positional reading must agree with. */
function byName(re: RegExp, names: readonly string[], text: string) {
  const m = re.exec(text);
  return m && names.map((name) => m.groups?.[name]);
}

/** The same through a group reader. */
function read(re: RegExp, names: readonly string[], text: string) {
  const reader = groupReader(re, names);
  const m = reader.exec(text);
  return m && names.map((_, index) => reader.group(m, index));
}

/** Every pattern with named groups in the shipped profiles. */
async function shippedPatterns(): Promise<RegExp[]> {
  const patterns: string[] = [];
  const files = (await readdir(BUILTIN_PROFILES_DIR)).filter((f) => f.endsWith('.json'));
  for (const file of files) {
    const profile = await loadProfile(path.basename(file, '.json') as 'em');
    for (const source of profile.sources) {
      if (source.format.type === 'lines') patterns.push(source.format.entry);
      if (source.errorCode) patterns.push(source.errorCode);
      for (const rule of source.rules) if (rule.type === 'regex') patterns.push(rule.match);
    }
  }
  return patterns.map((p) => new RegExp(p, 'u')).filter((re) => groupNames(re).length > 0);
}

/** The sample logs' lines, and the messages in them, which the rules' patterns run on. */
async function sampleTexts(): Promise<string[]> {
  const texts: string[] = [];
  const files = await readdir(SAMPLE_LOGS, { recursive: true, withFileTypes: true });
  for (const file of files.filter((f) => f.isFile())) {
    const text = await readFile(path.join(file.parentPath, file.name), 'latin1');
    for (const line of text.split(/\r?\n/)) {
      texts.push(line, line.split(' | ').at(-1)!);
      for (const m of line.matchAll(/<(?:log4net:)?message>([^<]*)</g)) texts.push(m[1]!);
    }
  }
  return texts;
}

describe('named groups read by position', () => {
  it('reads every pattern of the shipped profiles without its names', async () => {
    const patterns = await shippedPatterns();
    expect(patterns.length).toBeGreaterThanOrEqual(8);
    for (const re of patterns) expect(withoutNames(re), re.source).not.toBeNull();
  });

  it('finds in the sample logs what the names find', async () => {
    const texts = await sampleTexts();
    let matches = 0;
    for (const re of await shippedPatterns()) {
      const names = [...groupNames(re), 'absent'];
      for (const text of texts) {
        const expected = byName(re, names, text);
        expect(read(re, names, text), `${re.source} on ${text}`).toEqual(expected);
        if (expected) matches++;
      }
    }
    expect(matches).toBeGreaterThan(100);
  });

  it('counts past what is not a named group, and numbers named backreferences', () => {
    const cases: [string, string, string[]][] = [
      // Escaped parentheses, a class holding "(?<", groups plain, non-capturing and lookaround.
      [String.raw`\((?<a>\d+)\) [(?<x>]+ (b)(?:c)(?<=c)(?<!d)(?<e>e)`, '(12) <(?x bce', ['a', 'e']],
      [String.raw`(?<q>['"])(?<v>.*?)\k<q>0`, `x"quoted"0`, ['q', 'v']],
      [String.raw`(?:(?<a>a)|(?<b>b))+`, 'abba', ['a', 'b']],
      [String.raw`[\]\(](?<c>c)`, '(c', ['c']],
    ];
    for (const [source, text, names] of cases) {
      const re = new RegExp(source, 'u');
      expect(withoutNames(re), source).not.toBeNull();
      const expected = byName(re, names, text);
      expect(expected, source).not.toBeNull();
      expect(read(re, names, text)).toEqual(expected);
    }
  });

  it('leaves to the names what it cannot read with certainty', () => {
    const cases: [RegExp, string, string[]][] = [
      [/(?<ünit>x)/u, 'x', ['ünit']],
      // A backreference ahead of its group (it matches the empty string).
      // eslint-disable-next-line no-useless-backreference -- the case under test
      [new RegExp(String.raw`\k<a>(?<a>a)`, 'u'), 'a', ['a']],
      // Set operations in nested classes, which this does not follow.
      [new RegExp(String.raw`(?<a>[\p{L}--[a]])`, 'v'), 'b', ['a']],
    ];
    for (const [re, text, names] of cases) {
      expect(withoutNames(re), re.source).toBeNull();
      expect(read(re, names, text)).toEqual(byName(re, names, text));
      expect(read(re, names, text)).not.toBeNull();
    }
  });
});
