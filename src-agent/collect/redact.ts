// Privacy before anything reaches the outbox: user names and file paths never leave
// the instrument PC, whatever the log line says.

// A Windows drive or UNC path runs until a quote, a `: ` / `, ` pause, or the end of the text.
// Windows takes `/` for `\` too, and programs that normalise paths write it so.
// `(?<!\s)`: a run of blanks is tried for a following `(` once, at its start, not again at
// every blank in it (quadratic on a long run).
const WINDOWS_PATH =
  /(?:\b[A-Za-z]:[\\/]|\\\\[^\\\s]+\\)(?:[^"'<>|:\r\n]|:(?!\s|$))*?(?=["'<>|\r\n]|[:,;]\s|[:,;]?$|(?<!\s)\s+\(|$)/g;
// A profile folder named without its drive (`%HOMEPATH%` is `\Users\<name>`), any case.
const USERS_SEGMENT = /\\users\\[^\\\s"'<>|]+/gi;
const POSIX_HOME = /(?:\/home|\/Users)\/[^\s"'<>|]+/gi;
const USER_ATTR = /\b(?:user(?:name)?|login|account)\s*[=:]\s*("[^"]*"|'[^']*'|\S+)/gi;
// A Windows account as `DOMAIN\name` standing alone (not a path: nothing before it, no
// further segment after it). NetBIOS domains are written in capitals; registry roots
// (HKLM\SOFTWARE) look the same and are no accounts.
const DOMAIN_ACCOUNT =
  /(?<![\w\\:./-])(?!HK(?:LM|CU|CR|CC|U)\\|HKEY_)([A-Z][A-Z0-9-]{1,14})\\[A-Za-z0-9](?:[\w.$-]*[\w$-])?(?![\w\\$-])/g;

// Every pattern above needs one of these characters: most values ("Ready", "Beam On") have
// none and skip the replacements.
const MAY_REDACT = /[\\/:=]/;

export function redactMessage(text: string): string {
  if (!MAY_REDACT.test(text)) return text;
  return text
    .replace(WINDOWS_PATH, '<path>')
    .replace(USERS_SEGMENT, '<path>')
    .replace(POSIX_HOME, '<path>')
    .replace(DOMAIN_ACCOUNT, '$1\\<user>')
    .replace(
      USER_ATTR,
      (match, value: string) => match.slice(0, match.length - value.length) + '<user>',
    );
}
