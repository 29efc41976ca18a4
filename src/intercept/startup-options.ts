// The settings a startup packet's `options` parameter gives, read as PostgreSQL reads them: pg_split_opts splits the
// text at whitespace (a backslash keeps the next character, whitespace included), then each -c name=value,
// -cname=value and --name=value sets a setting, its name taken by ParseLongOption, which turns every dash of the name
// into an underscore (-c ai.openai-base-url=… sets ai.openai_base_url). Setting names are case-insensitive.

/** The options text split into words as pg_split_opts does. */
function optionWords(options: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let escaped = false;
  for (const character of options) {
    if (!escaped && /\s/.test(character)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (!escaped && character === '\\') {
      escaped = true;
      word ??= '';
    } else {
      escaped = false;
      word = (word ?? '') + character;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Each setting the options give, [name in lower case with underscores for dashes, value], in order. */
export function startupSettings(options: string): Array<[name: string, value: string]> {
  const words = optionWords(options);
  const settings: Array<[string, string]> = [];
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    let assignment: string | undefined;
    if (word === '-c') assignment = words[++index];
    else if (word.startsWith('--')) assignment = word.slice(2);
    else if (word.startsWith('-c')) assignment = word.slice(2);
    const equals = assignment?.indexOf('=') ?? -1;
    if (equals > 0) settings.push([assignment!.slice(0, equals).replace(/-/g, '_').toLowerCase(), assignment!.slice(equals + 1)]);
  }
  return settings;
}
