// PostgreSQL finds a setting by its name with the ASCII letters folded to lower case and no others (guc.c's
// guc_name_compare): ai.OPENAI_API_KEY is ai.openai_api_key, but ai.anthropic_api_\u212Aey (a Kelvin sign, which
// JavaScript's toLowerCase() makes a k) is another setting. The proxy names settings as the server does: folded with
// toLowerCase(), that name passed the check of another provider's key name and then found that key (review V2).

/** A setting's name as PostgreSQL looks it up: ASCII letters in lower case, every other character as it is. */
export function settingCase(name: string): string {
  return name.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}
