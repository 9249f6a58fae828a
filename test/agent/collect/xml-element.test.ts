import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseFully,
  readElement,
  readPlainElement,
  type XmlElement,
} from '../../../src-agent/collect/xml-element.ts';

const ESCAPES: Record<string, string> = {
  '<': '&lt;',
  '>': '&gt;',
  '&': '&amp;',
  '"': '&quot;',
  "'": '&apos;',
};
const escape = (text: string, quote: string) =>
  text.replace(/[<&"']/g, (c) => (c === quote || c === '<' || c === '&' ? ESCAPES[c]! : c));

// Text as logs hold it: words, blanks, line breaks, markup characters and non-ASCII.
const text = fc
  .array(fc.constantFrom('a', 'Z', '0', ' ', '\n', '\t', '<', '>', '&', '"', "'", 'ü', '€', '='), {
    maxLength: 12,
  })
  .map((cs) => cs.join(''));
// CDATA holds markup characters as they are; only its end marker cannot occur inside.
const cdata = text.filter((t) => !t.includes(']]>')).map((t) => ({ cdata: t.replace(/\]$/, '') }));
const name = fc.constantFrom('event', 'message', 'properties', 'data', 'log4net:event', 'x.y-z');
const blanks = fc.constantFrom('', ' ', '\n  ', '\t');

interface Generated {
  xml: string;
  element: XmlElement;
}

const element: fc.Memo<Generated> = fc.memo((depth) =>
  fc
    .record({
      name,
      attrs: fc.uniqueArray(fc.tuple(fc.constantFrom('a', 'level', 'name', 'value', 'b:c'), text), {
        selector: ([k]) => k,
        maxLength: 3,
      }),
      quote: fc.constantFrom('"', "'"),
      selfClosing: fc.boolean(),
      parts: fc.array(
        depth > 1 ? fc.oneof(text, cdata, element(depth - 1)) : fc.oneof(text, cdata),
        { maxLength: 3 },
      ),
      gap: blanks,
    })
    .map(({ name, attrs, quote, selfClosing, parts, gap }): Generated => {
      const open =
        `<${name}` +
        attrs.map(([k, v]) => ` ${k}=${quote}${escape(v, quote)}${quote}`).join('') +
        gap;
      const element: XmlElement = {
        name,
        attrs: Object.fromEntries(attrs),
        children: [],
        text: '',
      };
      if (selfClosing) return { xml: `${open}/>`, element };
      let inner = '';
      for (const part of parts) {
        if (typeof part === 'string') {
          inner += escape(part, '"');
          element.text += part;
        } else if ('cdata' in part) {
          inner += `<![CDATA[${part.cdata}]]>`;
          element.text += part.cdata;
        } else {
          inner += part.xml;
          element.children.push(part.element);
        }
      }
      return { xml: `${open}>${inner}</${name}>`, element };
    }),
);

describe('the quick XML reader', () => {
  it('reads plain XML exactly as written, and as fast-xml-parser does', () => {
    fc.assert(
      fc.property(element(3), ({ xml, element: expected }) => {
        const quick = readPlainElement(xml);
        expect(quick).toEqual(expected);
        expect(parseFully(xml)).toEqual(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with fast-xml-parser on whatever it accepts, and leaves the rest to it', () => {
    const markup = fc
      .array(
        fc.constantFrom(
          '<a',
          '<b x="1"',
          '>',
          '/>',
          '</a>',
          '</b>',
          'text',
          '&amp;',
          '&#65;',
          '&bogus;',
          '<![CDATA[<c>]]>',
          '<!-- c -->',
          '"',
          "'",
          '=',
          ' ',
          '\n',
        ),
        { maxLength: 14 },
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(markup, (xml) => {
        const quick = readPlainElement(xml);
        if (quick) expect(quick).toEqual(parseFully(xml));
        expect(readElement(xml)).toEqual(quick ?? parseFully(xml));
      }),
      { numRuns: 2000 },
    );
  });

  it('reads character references, the quick reader as the full parser', () => {
    for (const [xml, text] of [
      ['<message>M&#252;ller</message>', 'Müller'],
      // How .NET's XmlWriter writes line breaks in log4net's attributes and text.
      ['<message>one&#xD;&#xA;two</message>', 'one\r\ntwo'],
      ['<message>&#x1F52C; &amp;#65;</message>', '\u{1F52C} &#65;'],
    ]) {
      expect(readPlainElement(xml!)).toMatchObject({ text });
      expect(parseFully(xml!)).toEqual(readPlainElement(xml!));
    }
    expect(readPlainElement('<event a="&#65;&#x42;"/>')?.attrs).toEqual({ a: 'AB' });
  });

  it('hands comments, unknown entities and what XML has no character for to the full parser', () => {
    for (const xml of [
      '<message><!-- note --></message>',
      '<message><![CDATA[never closed</message>',
      '<message>&nbsp;</message>',
      '<message>a & b</message>',
      '<message>&#0;</message>',
      '<event a="&#xD800;"/>',
    ]) {
      expect(readPlainElement(xml)).toBeNull();
    }
    // Which leaves what it cannot resolve as written.
    expect(readElement('<message>A&#66;<!-- note -->C&nbsp;&#0;</message>')).toMatchObject({
      name: 'message',
      text: 'ABC&nbsp;&#0;',
    });
  });

  it('expands no entity a DOCTYPE declares, and takes CDATA as written', () => {
    const xml = '<!DOCTYPE m [<!ENTITY e "boom">]><m a="&e;&lt;">&e;&amp;<![CDATA[&amp;]]></m>';
    expect(readElement(xml)).toEqual({
      name: 'm',
      attrs: { a: '&e;<' },
      children: [],
      text: '&e;&&amp;',
    });
  });

  it('refuses what is not one well-formed element', () => {
    for (const xml of [
      '<a>',
      '<a></b>',
      '<a x="1" x="2"/>',
      '<a/><b/>',
      'text',
      '<a><b></a></b>',
    ]) {
      expect(readPlainElement(xml)).toBeNull();
    }
  });

  it('refuses a repeated attribute, whichever names the elements before it had', () => {
    // Names are guessed from the element read before (see attributeName): prime the guesses.
    for (const before of ['<a x="1" y="2"/>', '<a y="1" x="2"/>', '<a x="1"/>', '<b/>']) {
      for (const repeated of ['<a x="1" x="2"/>', '<a y="1" y="2"/>', '<a x="1" y="2" x="3"/>']) {
        expect(readPlainElement(before)).not.toBeNull();
        expect(readPlainElement(repeated)).toBeNull();
      }
    }
  });

  it('stops at a bounded depth instead of recursing without end', () => {
    const deep = '<a>'.repeat(10_000) + '</a>'.repeat(10_000);
    expect(readPlainElement(deep)).toBeNull();
  });
});
